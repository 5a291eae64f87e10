// verifies: timer-blocks-hibernation
// The presence broadcast that used setInterval now runs from alarm().
import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { connect, eventually, pendingAlarm, timersStartedDuring, withClockAdvanced } from "../../lib/helpers";

const PRESENCE_MS = 30_000; // the example's interval
const roomStub = (room: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(room));

it("a join starts no timer; it arms an alarm instead", async () => {
  let alice: Awaited<ReturnType<typeof connect>> | undefined;
  const delays = await timersStartedDuring(async () => {
    alice = await connect(SELF, "https://chat.test/room/presence-1/ws?user=alice");
    await alice.next((f) => f.type === "welcome", "welcome");
    await eventually(async () => (await pendingAlarm(roomStub("presence-1"))) !== null, "an alarm to be armed");
  });
  // Our own polling uses short timeouts; the object must not start a long-lived one.
  expect(delays.filter((ms) => ms >= 1000)).toEqual([]);
  const due = (await pendingAlarm(roomStub("presence-1")))!;
  expect(due).toBeLessThanOrEqual(Date.now() + PRESENCE_MS + 1000);
  alice!.ws.close(1000, "done");
});

it("the alarm broadcasts presence, re-arms while clients remain, and stops when they leave", async () => {
  const stub = roomStub("presence-2");
  const alice = await connect(SELF, "https://chat.test/room/presence-2/ws?user=alice");
  const bob = await connect(SELF, "https://chat.test/room/presence-2/ws?user=bob");
  await alice.next((f) => f.type === "welcome", "alice's welcome");
  await bob.next((f) => f.type === "welcome", "bob's welcome");
  await eventually(async () => (await pendingAlarm(stub)) !== null, "the presence alarm");

  await withClockAdvanced(PRESENCE_MS + 1000, async () => {
    expect(await runDurableObjectAlarm(stub)).toBe(true);
  });
  for (const client of [alice, bob]) {
    const presence = await client.next((f) => f.type === "presence", "presence frame");
    expect([...presence.online].sort()).toEqual(["alice", "bob"]);
  }
  expect(await pendingAlarm(stub)).not.toBeNull(); // clients remain: re-armed

  alice.ws.close(1000, "bye");
  bob.ws.close(1000, "bye");
  await eventually(async () => alice.closed !== null && bob.closed !== null, "both closes");
  await withClockAdvanced(2 * PRESENCE_MS + 2000, async () => {
    await runDurableObjectAlarm(stub);
  });
  expect(await pendingAlarm(stub)).toBeNull(); // nobody left, no messages: nothing to wake for
});
