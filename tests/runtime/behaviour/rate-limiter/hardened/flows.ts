// Request flows shared by the hardened rate-limiter tests (not a test file itself).
import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { expect } from "vitest";
import { eventually } from "../../lib/helpers";

// POST /login; returns the "sid=…" cookie.
export async function login(userId: string, ip: string): Promise<string> {
  const res = await SELF.fetch("https://api.test/login", {
    method: "POST",
    headers: { "CF-Connecting-IP": ip },
    body: JSON.stringify({ userId, device: "phone" }),
  });
  expect(res.status, await res.clone().text()).toBe(204);
  const cookie = (res.headers.get("Set-Cookie") ?? "").split(";")[0];
  expect(cookie).toMatch(/^sid=.+\..+/);
  return cookie;
}

// Logs in, starts an export, runs the job's alarm and returns the finished job.
export async function runExport(userId: string, ip: string) {
  const cookie = await login(userId, ip);
  const headers = { Cookie: cookie, "CF-Connecting-IP": ip };
  const started = await SELF.fetch("https://api.test/exports", { method: "POST", headers });
  expect(started.status, await started.clone().text()).toBe(202);
  const { jobId } = await started.json<{ jobId: string }>();
  const job = env.EXPORT_JOBS.get(env.EXPORT_JOBS.idFromString(jobId));
  // start() arms an alarm for "now": it may already have run by itself.
  await runDurableObjectAlarm(job);
  let status: { status: string; objectKey?: string; error?: string } = { status: "pending" };
  await eventually(async () => {
    const res = await SELF.fetch(`https://api.test/exports/${jobId}`, { headers });
    status = await res.json();
    return status.status !== "pending";
  }, "the export job to finish");
  return status;
}
