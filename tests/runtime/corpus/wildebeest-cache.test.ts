// WildebeestCache (cloudflare/wildebeest): a KV cache with GET /<key> and PUT {key, value}.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("WildebeestCache", () => {
  it("misses, stores and hits", async () => {
    const s = env.WILDEBEEST.get(env.WILDEBEEST.idFromName("cache"));
    expect((await s.fetch("https://do/k1")).status).toBe(404);
    const put = await s.fetch("https://do/", {
      method: "PUT",
      body: JSON.stringify({ key: "k1", value: { a: 1 } }),
    });
    expect(put.status).toBe(201);
    const hit = await s.fetch("https://do/k1");
    expect(hit.status).toBe(200);
    expect(await hit.json()).toEqual({ a: 1 });
    expect((await s.fetch("https://do/k1", { method: "DELETE" })).status).toBe(400);
  });
});
