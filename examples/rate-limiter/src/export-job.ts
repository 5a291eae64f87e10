import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env";

export type JobState = {
  userId: string;
  status: "pending" | "done" | "failed";
  createdAt: number;
  objectKey?: string;
  error?: string;
};

const MAX_ATTEMPTS = 5;

// One object per export request: collects the user's audit trail and writes
// it to R2 in the background, so the request that started it returns at once.
export class ExportJob extends DurableObject<Env> {
  async start(userId: string): Promise<void> {
    if (await this.ctx.storage.get<JobState>("job")) {
      return;
    }
    await this.ctx.storage.put<JobState>("job", { userId, status: "pending", createdAt: Date.now() });
    await this.ctx.storage.setAlarm(Date.now());
  }

  async status(): Promise<JobState | null> {
    return (await this.ctx.storage.get<JobState>("job")) ?? null;
  }

  async alarm(info?: AlarmInvocationInfo): Promise<void> {
    const job = await this.ctx.storage.get<JobState>("job");
    if (!job || job.status !== "pending") {
      return;
    }
    try {
      const events = await this.env.AUDIT_LOG.getByName(job.userId).recent(10_000);
      const objectKey = `exports/${job.userId}/${this.ctx.id.name}.json`;
      await this.env.EXPORTS.put(objectKey, JSON.stringify({ userId: job.userId, events }), {
        httpMetadata: { contentType: "application/json" },
      });
      await this.ctx.storage.put<JobState>("job", { ...job, status: "done", objectKey });
    } catch (err) {
      // Throwing makes the runtime retry with backoff; give up after a few tries.
      if ((info?.retryCount ?? 0) + 1 < MAX_ATTEMPTS) {
        throw err;
      }
      await this.ctx.storage.put<JobState>("job", { ...job, status: "failed", error: String(err) });
    }
  }
}
