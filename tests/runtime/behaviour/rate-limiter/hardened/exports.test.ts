// verifies: class-not-exported, binding-missing-migration
// An export job runs from its alarm (an alarm with its own purpose: a background job
// with retries) and writes the user's audit trail to R2.
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { runExport } from "./flows";

it("an export job runs from its alarm and writes the audit trail to R2", async () => {
  const status = await runExport("user-x", "10.2.0.1");
  expect(status.error).toBeUndefined();
  expect(status.status).toBe("done");
  const object = await env.EXPORTS.get(status.objectKey!);
  expect(object).not.toBeNull();
  const body = await object!.json<{ userId: string; events: { kind: string }[] }>();
  expect(body.userId).toBe("user-x");
  expect(body.events.map((e) => e.kind)).toContain("login");
});
