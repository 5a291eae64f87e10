// verifies: class-not-exported
// With AuditLog exported, the login path works end to end (it records to AuditLog),
// and SessionStore's TTL sweep keeps working on sessions created through it.
import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { pendingAlarm, sqlIn } from "../../lib/helpers";
import { login } from "./flows";

const me = (cookie: string, ip: string) =>
  SELF.fetch("https://api.test/me", { headers: { Cookie: cookie, "CF-Connecting-IP": ip } });

it("logs in, reads the session, logs out; every step lands in the audit log", async () => {
  const cookie = await login("user-a", "10.1.0.1");
  const res = await me(cookie, "10.1.0.1");
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ userId: "user-a" });

  const out = await SELF.fetch("https://api.test/logout", {
    method: "POST",
    headers: { Cookie: cookie, "CF-Connecting-IP": "10.1.0.1" },
  });
  expect(out.status).toBe(204);
  expect((await me(cookie, "10.1.0.1")).status).toBe(401);

  const events = await env.AUDIT_LOG.getByName("user-a").recent(10);
  expect(events.map((e) => e.kind)).toEqual(["logout", "login"]);
});

it("the session sweep deletes expired rows, keeps the live session, and stops when none remain", async () => {
  const cookie = await login("user-b", "10.1.0.2");
  const store = env.SESSIONS.getByName("user-b");
  const [live] = await sqlIn<{ id: string; expires_at: number }>(store, "SELECT id, expires_at FROM sessions");
  expect(await pendingAlarm(store)).toBe(live.expires_at);
  const seedExpired = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await sqlIn(
        store,
        "INSERT INTO sessions (id, user_id, data, expires_at) VALUES (?, ?, ?, ?)",
        crypto.randomUUID(),
        "user-b",
        null,
        Date.now() - 60_000,
      );
    }
  };
  await seedExpired(3);
  expect(await runDurableObjectAlarm(store)).toBe(true);
  expect((await sqlIn<{ id: string }>(store, "SELECT id FROM sessions")).map((r) => r.id)).toEqual([live.id]);
  expect(await pendingAlarm(store)).toBe(live.expires_at);

  await SELF.fetch("https://api.test/logout", {
    method: "POST",
    headers: { Cookie: cookie, "CF-Connecting-IP": "10.1.0.2" },
  });
  await seedExpired(2);
  expect(await runDurableObjectAlarm(store)).toBe(true);
  expect(await sqlIn(store, "SELECT id FROM sessions")).toEqual([]);
  expect(await pendingAlarm(store)).toBeNull();
});
