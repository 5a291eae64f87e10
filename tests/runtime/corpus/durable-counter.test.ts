// Counter (shrinathsnayak/cloudflare-experiments durable-counter): value loaded in the
// constructor's blockConcurrencyWhile, kept in KV storage.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("durable-counter Counter", () => {
  it("increments, resets and persists the value", async () => {
    const s = env.DURABLE_COUNTER.get(env.DURABLE_COUNTER.idFromName("c"));
    expect(await (await s.fetch("https://do/increment")).json()).toEqual({ value: 1 });
    expect(await (await s.fetch("https://do/increment")).json()).toEqual({ value: 2 });
    expect(await (await s.fetch("https://do/")).json()).toEqual({ value: 2 });
    await runInDurableObject(s, async (_instance: unknown, state: DurableObjectState) => {
      expect(await state.storage.get("value")).toBe(2);
    });
    expect(await (await s.fetch("https://do/reset")).json()).toEqual({ value: 0 });
  });
});
