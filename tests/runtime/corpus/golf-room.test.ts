// GolfRoom (Gryczka/cloudflare-multiplayer-2d-golf-demo): hibernatable sockets with per-player
// attachments, SQLite room state. Harden adds indexes, guards the echoed close code, and answers
// exact "ping" frames through setWebSocketAutoResponse: joins, pings and closes behave the same.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";

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
