// verifies: unbounded-table-growth
// TTL cleanup of `messages` (issue 4): an expires_at column added by a migration,
// written by every INSERT, indexed, and swept from alarm() while rows remain.
import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { DAY_MS, pendingAlarm, queryPlan, runAlarmUntil, sqlIn, withClockAdvanced } from "../../lib/helpers";

const roomStub = (room: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(room));
// Longer than the default TTL the fix documents (30 days): every row posted now has expired.
const PAST_DEFAULT_TTL_MS = 40 * DAY_MS;

async function post(room: string, body: string): Promise<void> {
  const res = await SELF.fetch(`https://chat.test/room/${room}/messages`, {
    method: "POST",
    body: JSON.stringify({ author: "ann", body }),
  });
  expect(res.status).toBe(201);
}

async function seed(stub: DurableObjectStub, room: string, body: string, expiresAt: number): Promise<void> {
  await sqlIn(
    stub,
    "INSERT INTO messages (room, author, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    room,
    "seed",
    body,
    Date.now(),
    expiresAt,
  );
}

const bodies = async (stub: DurableObjectStub) =>
  (await sqlIn<{ body: string }>(stub, "SELECT body FROM messages ORDER BY id")).map((r) => r.body);

it("every INSERT writes an expiry, and the sweep is indexed", async () => {
  await post("ttl-1", "hello");
  const stub = roomStub("ttl-1");
  const columns = (await sqlIn<{ name: string }>(stub, "PRAGMA table_info(messages)")).map((c) => c.name);
  expect(columns).toContain("expires_at");
  const [row] = await sqlIn<{ expires_at: number | null }>(stub, "SELECT expires_at FROM messages");
  expect(row.expires_at).not.toBeNull();
  expect(row.expires_at!).toBeGreaterThan(Date.now() + DAY_MS); // a real TTL, not "now"
  const plan = (await queryPlan(stub, "DELETE FROM messages WHERE expires_at <= ?", Date.now())).join("\n");
  expect(plan).toMatch(/USING (COVERING )?INDEX \w*expires_at\w* \(expires_at<\?\)/);
  // Posting armed the cleanup.
  expect(await pendingAlarm(stub)).not.toBeNull();
});

it("the alarm deletes expired rows, keeps fresh ones, and re-arms only while rows remain", async () => {
  const room = "ttl-2";
  const stub = roomStub(room);
  await post(room, "posted"); // expires after the default TTL; arms the alarm
  const realNow = Date.now();
  for (let i = 0; i < 5; i++) await seed(stub, room, `expired-${i}`, realNow - 60_000 - i);
  await seed(stub, room, "fresh", realNow + 400 * DAY_MS);

  await withClockAdvanced(PAST_DEFAULT_TTL_MS, async () => {
    await runAlarmUntil(stub, async () => (await bodies(stub)).length === 1);
  });
  expect(await bodies(stub)).toEqual(["fresh"]);
  expect(await pendingAlarm(stub)).not.toBeNull(); // a row remains: still armed

  // Only expired rows left: the sweep empties the table and does not re-arm for it.
  await sqlIn(stub, "DELETE FROM messages WHERE body = ?", "fresh");
  await seed(stub, room, "expired-again", realNow - 1000);
  await withClockAdvanced(PAST_DEFAULT_TTL_MS, async () => {
    await runAlarmUntil(stub, async () => (await bodies(stub)).length === 0);
  });
  await withClockAdvanced(PAST_DEFAULT_TTL_MS, async () => {
    // Let any follow-up run (batching) finish, then nothing may remain armed.
    for (let i = 0; i < 3 && (await pendingAlarm(stub)) !== null; i++) await runDurableObjectAlarm(stub);
  });
  expect(await pendingAlarm(stub)).toBeNull();
});
