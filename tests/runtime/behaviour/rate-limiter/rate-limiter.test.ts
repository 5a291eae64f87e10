// RateLimiter (key-value API + alarm) and SessionStore query plans. Runs against
// the original example AND the hardened build: none of this may change.
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { pendingAlarm, queryPlan, withClockAdvanced } from "../lib/helpers";

const IDLE_TTL_MS = 10 * 60 * 1000; // mirrors rate-limiter.ts

describe("RateLimiter token bucket", () => {
  it("allows a burst of 60, then refuses with Retry-After", async () => {
    const limiter = env.RATE_LIMITER.getByName("10.0.0.1");
    // Clock frozen: no token refills while the burst runs, however slow the machine.
    await withClockAdvanced(0, async () => {
      for (let i = 0; i < 60; i++) {
        expect((await limiter.take()).allowed).toBe(true);
      }
      const refused = await limiter.take();
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterSec).toBeGreaterThanOrEqual(1);
    });
  });

  it("answers 429 through the Worker once a client's bucket is empty", async () => {
    const headers = { "CF-Connecting-IP": "10.0.0.2" };
    await withClockAdvanced(0, async () => {
      for (let i = 0; i < 60; i++) {
        expect((await SELF.fetch("https://api.test/me", { headers })).status).toBe(401);
      }
      const res = await SELF.fetch("https://api.test/me", { headers });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    });
  });

  it("arms one idle alarm, keeps an active bucket, and reclaims an idle one", async () => {
    const limiter = env.RATE_LIMITER.getByName("10.0.0.3");
    const before = Date.now();
    await limiter.take(10);
    const armed = await pendingAlarm(limiter);
    expect(armed).not.toBeNull();
    expect(armed!).toBeGreaterThanOrEqual(before + IDLE_TTL_MS);

    // Still active: the alarm keeps the bucket and looks again later.
    expect(await runDurableObjectAlarm(limiter)).toBe(true);
    const kept = await runInDurableObject(limiter, (_i, state) => state.storage.get<{ tokens: number }>("bucket"));
    expect(kept?.tokens).toBeLessThanOrEqual(50);
    expect(await pendingAlarm(limiter)).not.toBeNull();

    // Idle for longer than the TTL: everything is reclaimed, no alarm left.
    await withClockAdvanced(IDLE_TTL_MS + 60_000, async () => {
      expect(await runDurableObjectAlarm(limiter)).toBe(true);
    });
    const after = await runInDurableObject(limiter, async (_i, state) => [...(await state.storage.list()).keys()]);
    expect(after).toEqual([]);
    expect(await pendingAlarm(limiter)).toBeNull();
    // A reclaimed client starts again from a full bucket.
    expect((await limiter.take()).remaining).toBe(59);
  });
});

describe("SessionStore query plans (inside the object)", () => {
  it("looks sessions up by primary key and sweeps them through the expires_at index", async () => {
    const store = env.SESSIONS.getByName("plan-user");
    const lookup = await queryPlan(store, "SELECT id, user_id, data, expires_at FROM sessions WHERE id = ?", "x");
    expect(lookup.join("\n")).toMatch(/SEARCH sessions USING (COVERING )?(INDEX sqlite_autoindex_sessions_1|PRIMARY KEY) \(id=\?\)/);
    const sweep = await queryPlan(store, "DELETE FROM sessions WHERE expires_at <= ?", 0);
    expect(sweep.join("\n")).toMatch(/SEARCH sessions USING (COVERING )?INDEX idx_sessions_expires_at \(expires_at<\?\)/);
    const next = await queryPlan(store, "SELECT MIN(expires_at) AS next FROM sessions");
    expect(next.join("\n")).toMatch(/SEARCH sessions USING COVERING INDEX idx_sessions_expires_at/);
  });
});
