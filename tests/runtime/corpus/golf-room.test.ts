// GolfRoom (Gryczka/cloudflare-multiplayer-2d-golf-demo): hibernatable sockets with per-player
// attachments, SQLite room state. Harden adds indexes, guards the echoed close code, and answers
// exact "ping" frames through setWebSocketAutoResponse: joins, pings and closes behave the same.
// It also gives `players` and `leaderboard` an expiry (unbounded-table-growth): the last test
// proves expired rows go, fresh ones stay, and the cleanup alarm stops once the table is empty.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { HARDENED } from "../corpus-build";

async function connect(stub: DurableObjectStub): Promise<WebSocket> {
  const response = await stub.fetch("https://do/ws/golf/ABCD", { headers: { Upgrade: "websocket" } });
  expect(response.status).toBe(101);
  const ws = response.webSocket!;
  ws.accept();
  return ws;
}

function next(ws: WebSocket, accept: (data: string) => boolean = () => true): Promise<string> {
  return new Promise((resolve) => {
    const listener = (event: MessageEvent) => {
      const data = String(event.data);
      if (accept(data)) {
        ws.removeEventListener("message", listener);
        resolve(data);
      }
    };
    ws.addEventListener("message", listener);
  });
}

describe("GolfRoom", () => {
  it("refuses plain requests", async () => {
    const stub = env.GOLF_ROOM.get(env.GOLF_ROOM.idFromName("plain"));
    expect((await stub.fetch("https://do/ws/golf/ABCD")).status).toBe(426);
  });

  it("joins a golfer, answers ping, and keeps the player in SQLite", async () => {
    const stub = env.GOLF_ROOM.get(env.GOLF_ROOM.idFromName("join"));
    const ws = await connect(stub);
    const pong = next(ws, (d) => d === "pong");
    ws.send("ping");
    expect(await pong).toBe("pong");
    const snapshot = next(ws, (d) => d.includes('"state_snapshot"'));
    ws.send(JSON.stringify({ type: "join", name: "Ada", preferredRole: "golfer" }));
    const state = JSON.parse(await snapshot) as { playerId: string };
    expect(typeof state.playerId).toBe("string");
    await runInDurableObject(stub, async (_instance: unknown, s: DurableObjectState) => {
      const rows = s.storage.sql.exec("SELECT name, role, online FROM players").toArray();
      expect(rows).toEqual([{ name: "Ada", role: "golfer", online: 1 }]);
      expect(s.getWebSockets()).toHaveLength(1);
    });
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
    ws.close(1000, "bye");
    expect(await closed).toBe(1000);
  });
});

// unbounded-table-growth: harden gives `players` and `leaderboard` an expiry (a migration step run
// after the class's own migrateSchema(), an expires_at written by every join, a cleanup alarm)
describe("GolfRoom players expire (hardened) / are kept (original)", () => {
  const sql = (stub: DurableObjectStub, query: string, ...args: unknown[]) =>
    runInDurableObject(stub, (_i: unknown, s: DurableObjectState) => s.storage.sql.exec(query, ...args).toArray());
  const alarmOf = (stub: DurableObjectStub) =>
    runInDurableObject(stub, (_i: unknown, s: DurableObjectState) => s.storage.getAlarm());

  async function joinAs(stub: DurableObjectStub, name: string): Promise<WebSocket> {
    const ws = await connect(stub);
    const snapshot = next(ws, (d) => d.includes('"state_snapshot"'));
    ws.send(JSON.stringify({ type: "join", name, preferredRole: "golfer" }));
    await snapshot;
    return ws;
  }

  it("expired rows go, fresh ones stay, and the alarm stops when the table is empty", async () => {
    const stub = env.GOLF_ROOM.get(env.GOLF_ROOM.idFromName("ttl"));
    const before = Date.now();
    const ada = await joinAs(stub, "Ada");
    const columns = (await sql(stub, "SELECT name FROM pragma_table_info('players')")).map((c) => c.name);
    const leaderboard = (await sql(stub, "SELECT name FROM pragma_table_info('leaderboard')")).map((c) => c.name);
    if (!HARDENED) {
      expect(columns).not.toContain("expires_at");
      expect(leaderboard).not.toContain("expires_at");
      expect(await alarmOf(stub)).toBeNull();
      ada.close(1000, "bye");
      return;
    }
    expect(columns).toContain("expires_at");
    expect(leaderboard).toContain("expires_at");
    const [{ expires_at: adaExpiry }] = await sql(stub, "SELECT expires_at FROM players WHERE name = 'Ada'");
    expect(adaExpiry).toBeGreaterThanOrEqual(before + 29 * 24 * 3600 * 1000);
    expect(await alarmOf(stub)).toBe(adaExpiry); // the join armed the cleanup at the expiry
    // Ada's row is past its expiry; Bob joins now
    await sql(stub, "UPDATE players SET expires_at = ? WHERE name = 'Ada'", Date.now() - 1);
    const bob = await joinAs(stub, "Bob");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const left = await sql(stub, "SELECT name, expires_at FROM players");
    expect(left.map((r) => r.name)).toEqual(["Bob"]);
    expect(await alarmOf(stub)).toBe(left[0].expires_at); // re-armed for the next expiry
    // once the last row has gone the alarm is not armed again
    await sql(stub, "UPDATE players SET expires_at = ?", Date.now() - 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await sql(stub, "SELECT name FROM players")).toEqual([]);
    expect(await alarmOf(stub)).toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(false);
    // the migration ran once and is recorded; the room row (a seed insert) has no expiry
    expect(await sql(stub, "SELECT id FROM _sql_schema_migrations ORDER BY id")).toEqual([{ id: 1 }, { id: 2 }]);
    expect((await sql(stub, "SELECT name FROM pragma_table_info('room')")).map((c) => c.name)).not.toContain("expires_at");
    ada.close(1000, "bye");
    bob.close(1000, "bye");
  });
});
