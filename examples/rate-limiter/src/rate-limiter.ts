import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env";

const CAPACITY = 60; // burst size
const REFILL_PER_SEC = 1; // sustained requests per second
const IDLE_TTL_MS = 10 * 60 * 1000;

type Bucket = { tokens: number; updatedAt: number };

export type Verdict = { allowed: boolean; remaining: number; retryAfterSec: number };

// Token bucket for a single client. The whole state is one small record,
// so the key-value API is all it needs.
export class RateLimiter extends DurableObject<Env> {
  async take(cost = 1): Promise<Verdict> {
    const now = Date.now();
    const stored = await this.ctx.storage.get<Bucket>("bucket");
    const elapsedSec = stored ? (now - stored.updatedAt) / 1000 : 0;
    const tokens = Math.min(CAPACITY, (stored?.tokens ?? CAPACITY) + elapsedSec * REFILL_PER_SEC);

    const allowed = tokens >= cost;
    const bucket: Bucket = { tokens: allowed ? tokens - cost : tokens, updatedAt: now };
    await this.ctx.storage.put("bucket", bucket);

    // A single pending alarm is enough to reclaim the bucket once the client
    // goes quiet; don't push it back on every request.
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(now + IDLE_TTL_MS);
    }

    return {
      allowed,
      remaining: Math.floor(bucket.tokens),
      retryAfterSec: allowed ? 0 : Math.ceil((cost - bucket.tokens) / REFILL_PER_SEC),
    };
  }

  async alarm(): Promise<void> {
    const bucket = await this.ctx.storage.get<Bucket>("bucket");
    if (bucket && Date.now() - bucket.updatedAt < IDLE_TTL_MS) {
      // Still active: look again when it could first have gone idle.
      await this.ctx.storage.setAlarm(bucket.updatedAt + IDLE_TTL_MS);
      return;
    }
    // A full bucket is the default, so an idle client needs no storage at all.
    await this.ctx.storage.deleteAll();
  }
}
