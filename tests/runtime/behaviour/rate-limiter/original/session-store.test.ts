// SessionStore's TTL cleanup on the ORIGINAL example, driven through its RPC
// methods (init/create/revoke). The hardened build gets the same checks over
// HTTP in hardened/ (its init() may be gone after the obsolete-name fix).
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { expect, it } from "vitest";
import { eventually, pendingAlarm, sqlIn } from "../../lib/helpers";

async function seedExpired(store: DurableObjectStub, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await sqlIn(
      store,
      "INSERT INTO sessions (id, user_id, data, expires_at) VALUES (?, ?, ?, ?)",
      `expired-${crypto.randomUUID()}`,
      "ttl-user",
      null,
      Date.now() - 60_000 - i,
    );
  }
}

const ids = async (store: DurableObjectStub) =>
  (await sqlIn<{ id: string }>(store, "SELECT id FROM sessions ORDER BY id")).map((r) => r.id);

it("the TTL alarm deletes expired rows, keeps fresh ones, and re-arms only while rows remain", async () => {
  const store = env.SESSIONS.getByName("ttl-user");
  await store.init("ttl-user");
  const fresh = await store.create({ device: "phone" }, 60 * 60 * 1000);
  const freshExpiry = (await sqlIn<{ expires_at: number }>(store, "SELECT expires_at FROM sessions WHERE id = ?", fresh))[0].expires_at;
  expect(await pendingAlarm(store)).toBe(freshExpiry);

  // Rows written with an expiry in the past, directly (no alarm armed for them).
  await seedExpired(store, 3);
  expect((await ids(store)).length).toBe(4);

  expect(await runDurableObjectAlarm(store)).toBe(true);
  expect(await ids(store)).toEqual([fresh]);
  expect(await pendingAlarm(store)).toBe(freshExpiry); // re-armed: a row remains

  // Nothing fresh left: the sweep deletes the rest and does not re-arm.
  await store.revoke(fresh);
  await seedExpired(store, 2);
  expect(await runDurableObjectAlarm(store)).toBe(true);
  expect(await ids(store)).toEqual([]);
  expect(await pendingAlarm(store)).toBeNull();
});

it("never hands out an expired session, and a past alarm fires by itself", async () => {
  const store = env.SESSIONS.getByName("past-user");
  await store.init("past-user");
  const id = await store.create({ device: "laptop" }, -1000); // already expired
  expect(await store.lookup(id)).toBeNull();
  // setAlarm() with a time in the past fires at once: the row goes without help.
  await eventually(async () => (await ids(store)).length === 0, "the past alarm to delete the row");
  expect(await pendingAlarm(store)).toBeNull();
});

it("a live session can be looked up and revoked", async () => {
  const store = env.SESSIONS.getByName("live-user");
  await store.init("live-user");
  const id = await store.create({ device: "tablet" });
  expect(await store.lookup(id)).toMatchObject({ id, user_id: "live-user", data: JSON.stringify({ device: "tablet" }) });
  await store.revoke(id);
  expect(await store.lookup(id)).toBeNull();
});
