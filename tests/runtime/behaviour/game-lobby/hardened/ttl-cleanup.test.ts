// verifies: unbounded-table-growth
// events rows get an expiry; the alarm deletes expired ones and re-arms only while rows remain.
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { DAY_MS, pendingAlarm, runAlarmUntil, sqlIn, withClockAdvanced } from "../../lib/helpers";

const events = (stub: DurableObjectStub) =>
  sqlIn<{ kind: string; expires_at: number | null }>(stub, "SELECT kind, expires_at FROM events ORDER BY id");

it("every event written by the lobby has a real TTL (more than a day)", async () => {
  const stub = env.LOBBY.getByName("ttl-written");
  await stub.join("ann");
  await stub.join("bob");
  await stub.start("ann");
  await stub.leave("bob");
  const rows = await events(stub);
  expect(rows.map((r) => r.kind)).toEqual(["joined", "joined", "countdown", "left"]);
  for (const row of rows) {
    expect(row.expires_at).toBeGreaterThan(Date.now() + DAY_MS);
  }
});

it("the alarm deletes expired events, keeps fresh ones, and stops once none remain", async () => {
  const stub = env.LOBBY.getByName("ttl-sweep");
  await stub.join("ann");
  // 40 days on: the join event has expired, and the idle lobby is closed by the same run
  await withClockAdvanced(40 * DAY_MS, async () => {
    await runAlarmUntil(stub, async () => (await events(stub)).every((r) => r.kind !== "joined"));
  });
  const left = await events(stub);
  expect(left.map((r) => r.kind)).toEqual(["closed"]); // written at the close: fresh, kept
  expect(await pendingAlarm(stub)).toBe(left[0].expires_at); // re-armed for it
  await withClockAdvanced(80 * DAY_MS, async () => {
    await runAlarmUntil(stub, async () => (await events(stub)).length === 0);
  });
  expect(await pendingAlarm(stub)).toBeNull();
});
