// verifies: unbounded-table-growth, timer-blocks-hibernation
// alarm() already had a job (closing idle lobbies). After both fixes merged into it, one
// alarm run must still close the idle lobby, AND delete expired events, AND run the countdown.
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { inObject, runAlarmUntil, sqlIn, withClockAdvanced } from "../../lib/helpers";

const IDLE_TIMEOUT_MS = 10 * 60 * 1000; // mirrors lobby.ts

const kinds = async (stub: DurableObjectStub) =>
  (await sqlIn<{ kind: string }>(stub, "SELECT kind FROM events ORDER BY id")).map((r) => r.kind);

const seedExpiredEvent = (stub: DurableObjectStub) =>
  sqlIn(
    stub,
    "INSERT INTO events (at, kind, player_id, expires_at) VALUES (?, 'expired', NULL, ?)",
    Date.now() - 60_000,
    Date.now() - 60_000,
  );

it("the idle-close alarm still closes the lobby, deletes expired events and starts the counted-down match", async () => {
  const stub = env.LOBBY.getByName("shared-1");
  await stub.join("ann");
  await stub.join("bob");
  await stub.start("ann");
  await seedExpiredEvent(stub);
  // the idle close is due (no activity for 10 min); so is the countdown
  await withClockAdvanced(IDLE_TIMEOUT_MS + 60_000, async () => {
    await runAlarmUntil(stub, async () => (await stub.view()).status === "closed");
  });
  const view = await stub.view();
  expect(view.players).toEqual([]);
  expect(view.closedAt).not.toBeNull();
  // the countdown's work ran from the alarm before the close; the expired row is gone,
  // the fresh events are kept
  expect(await kinds(stub)).toEqual(["joined", "joined", "countdown", "match_started", "closed"]);
});

it("an alarm armed before hardening (empty schedule) still runs the idle close and the cleanup", async () => {
  const stub = env.LOBBY.getByName("shared-upgraded");
  await stub.join("ann");
  await seedExpiredEvent(stub);
  // what an object deployed before hardening has: its own pending alarm, no schedule rows
  await inObject(stub, async (_instance, state) => {
    state.storage.sql.exec("DELETE FROM _alarm_schedule");
    await state.storage.setAlarm(Date.now() + IDLE_TIMEOUT_MS);
  });
  await withClockAdvanced(IDLE_TIMEOUT_MS + 60_000, async () => {
    await runAlarmUntil(stub, async () => (await stub.view()).status === "closed");
  });
  expect(await kinds(stub)).toEqual(["joined", "closed"]);
});
