// CounterTs (cloudflare/durable-objects-typescript-rollup-esm): a KV counter behind fetch().
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const stub = () => env.COUNTER_TS.get(env.COUNTER_TS.idFromName("counter"));

describe("CounterTs", () => {
  it("increments, decrements and serves the stored value", async () => {
    const s = stub();
    expect(await (await s.fetch("https://do/")).text()).toBe("0");
    expect(await (await s.fetch("https://do/increment")).text()).toBe("1");
    expect(await (await s.fetch("https://do/increment")).text()).toBe("2");
    expect(await (await s.fetch("https://do/decrement")).text()).toBe("1");
    expect(await (await s.fetch("https://do/")).text()).toBe("1");
  });

  it("answers 404 for other paths", async () => {
    expect((await stub().fetch("https://do/nope")).status).toBe(404);
  });
});
