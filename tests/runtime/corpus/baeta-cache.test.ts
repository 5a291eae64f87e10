// BaetaCache (andreisergiu98/baeta extension-cache-cloudflare): a KV cache with TTLs evicted by
// the alarm. Harden adds `deleteAlarm()` before `deleteAll()` in flush (deleteall-leaves-alarm).
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const call = async (stub: DurableObjectStub, action: object) =>
  (await stub.fetch("https://do/", { method: "POST", body: JSON.stringify(action) })).text();

describe("BaetaCache", () => {
  it("stores, lists, reads and deletes values", async () => {
    const s = env.BAETA_CACHE.get(env.BAETA_CACHE.idFromName("values"));
    await call(s, { type: "put", values: [["a:1", "one"], ["a:2", "two"], ["b:1", "x"]] });
    expect(JSON.parse(await call(s, { type: "get", keys: ["a:1", "b:1", "zz"] }))).toEqual(["one", "x", null]);
    expect(JSON.parse(await call(s, { type: "list", prefix: "a:" }))).toEqual(["a:1", "a:2"]);
    await call(s, { type: "delete", keys: ["a:1"] });
    expect(JSON.parse(await call(s, { type: "get", keys: ["a:1", "a:2"] }))).toEqual([null, "two"]);
  });

  it("flush empties the cache (harden adds deleteAlarm() before deleteAll())", async () => {
    // `alarm` is an arrow-function field in this class, not a method: workerd finds no alarm
    // handler on the class, so its setAlarm() (a put with a TTL) fails in both builds; the
    // flush path the fix touches still empties the cache and leaves no alarm behind
    const s = env.BAETA_CACHE.get(env.BAETA_CACHE.idFromName("flush"));
    await call(s, { type: "put", values: [["k", "v"]] });
    await call(s, { type: "flush" });
    expect(JSON.parse(await call(s, { type: "get", keys: ["k"] }))).toEqual([null]);
    await runInDurableObject(s, async (_instance: unknown, state: DurableObjectState) => {
      expect(await state.storage.getAlarm()).toBeNull();
      expect((await state.storage.list()).size).toBe(0);
    });
  });
});
