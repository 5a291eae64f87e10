// The planted problems of the original game-lobby are real in workerd.
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { pendingAlarm, runAlarmUntil, sqlIn, timersStartedDuring, withClockAdvanced } from "../../lib/helpers";

it("start() runs the countdown on a 10 s setTimeout", async () => {
  const stub = env.LOBBY.getByName("planted-timer");
  await stub.join("ann");
  await stub.join("bob");
  const delays = await timersStartedDuring(async () => {
    await stub.start("ann");
  });
  expect(delays).toContain(10_000);
});

it("events rows carry no expiry, and the idle close leaves no alarm behind", async () => {
  const stub = env.LOBBY.getByName("planted-events");
  await stub.join("ann");
  const columns = await sqlIn<{ name: string }>(stub, "SELECT name FROM pragma_table_info('events')");
  expect(columns.map((c) => c.name)).not.toContain("expires_at");
  await withClockAdvanced(11 * 60 * 1000, async () => {
    await runAlarmUntil(stub, async () => (await stub.view()).status === "closed");
  });
  // re-armed only while players remain: nothing will ever prune these rows
  expect(await pendingAlarm(stub)).toBeNull();
  expect((await sqlIn(stub, "SELECT id FROM events")).length).toBe(2);
});
