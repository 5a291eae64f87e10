// RateLimitDurableObject (nkuntz1934/matrix-workers): in-memory fixed-window counters behind
// fetch(). Its project is hardened elsewhere (rooms, sync, calls); this class must not change.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";

type Check = { allowed: boolean; remaining: number; retryAfterMs?: number };

describe("RateLimitDurableObject", () => {
  it("allows up to the limit, refuses after, and resets", async () => {
    const s = env.RATE_LIMIT.get(env.RATE_LIMIT.idFromName("login"));
    const check = async () =>
      (await (
        await s.fetch("https://do/", {
          method: "POST",
          body: JSON.stringify({ action: "check", clientId: "ip-1", limit: 2, windowMs: 60_000 }),
        })
      ).json()) as Check;
    expect(await check()).toMatchObject({ allowed: true, remaining: 1 });
    expect(await check()).toMatchObject({ allowed: true, remaining: 0 });
    const refused = await check();
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    await s.fetch("https://do/", { method: "POST", body: JSON.stringify({ action: "reset", clientId: "ip-1" }) });
    expect((await check()).allowed).toBe(true);
    const bad = await s.fetch("https://do/", { method: "POST", body: JSON.stringify({ action: "nope" }) });
    expect(bad.status).toBe(400);
  });
});
