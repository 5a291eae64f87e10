// verifies: unbounded-table-growth, timer-blocks-hibernation
// One alarm, two jobs: TTL cleanup and the presence broadcast must both keep working.
import { env, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { connect, DAY_MS, eventually, pendingAlarm, runAlarmUntil, sqlIn, withClockAdvanced } from "../../lib/helpers";

it("an alarm run both sweeps expired messages and broadcasts presence", async () => {
  const room = "shared-1";
  const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(room));
  const alice = await connect(SELF, `https://chat.test/room/${room}/ws?user=alice`);
  await alice.next((f) => f.type === "welcome", "welcome");
  await eventually(async () => (await pendingAlarm(stub)) !== null, "an alarm");
  await sqlIn(
    stub,
    "INSERT INTO messages (room, author, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    room,
    "seed",
    "expired",
    Date.now(),
    Date.now() - 60_000,
  );
  await withClockAdvanced(40 * DAY_MS, async () => {
    await runAlarmUntil(
      stub,
      async () => (await sqlIn(stub, "SELECT id FROM messages WHERE body = 'expired'")).length === 0,
    );
  });
  const presence = await alice.next((f) => f.type === "presence", "presence frame");
  expect(presence.online).toEqual(["alice"]);
  expect(await pendingAlarm(stub)).not.toBeNull(); // alice is still here
  alice.ws.close(1000, "done");
});
