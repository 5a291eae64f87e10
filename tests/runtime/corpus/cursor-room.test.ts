// CursorRoom (shrinathsnayak/cloudflare-experiments live-cursor-tracker): hibernatable sockets,
// a join frame per socket, cursor frames relayed to the others, a leave frame on close. Harden
// makes `webSocketClose` answer the close handshake (websocket-close-handshake): the relaying
// and the leave frame behave the same, and (hardened) the closing client gets its close frame.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { HARDENED } from "../corpus-build";

type Frame = { type: string; id: string; color: string; name: string; x?: number; y?: number };

class Peer {
  frames: Frame[] = [];
  closed: number | null = null;
  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => this.frames.push(JSON.parse(String(e.data)) as Frame));
    ws.addEventListener("close", (e) => (this.closed = e.code));
    ws.accept();
  }
  async next(type: string): Promise<Frame> {
    for (let i = 0; i < 150; i++) {
      const at = this.frames.findIndex((f) => f.type === type);
      if (at >= 0) return this.frames.splice(at, 1)[0];
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no ${type} frame`);
  }
}

async function join(stub: DurableObjectStub): Promise<Peer> {
  const response = await stub.fetch("https://do/ws", { headers: { Upgrade: "websocket" } });
  expect(response.status).toBe(101);
  return new Peer(response.webSocket!);
}

describe("CursorRoom", () => {
  it("refuses plain requests", async () => {
    const stub = env.CURSOR_ROOM.get(env.CURSOR_ROOM.idFromName("plain"));
    expect((await stub.fetch("https://do/ws")).status).toBe(426);
  });

  it("greets each socket, relays cursors to the others, and announces who left", async () => {
    const stub = env.CURSOR_ROOM.get(env.CURSOR_ROOM.idFromName("room"));
    const a = await join(stub);
    const b = await join(stub);
    const aJoin = await a.next("join");
    const bJoin = await b.next("join");
    expect(aJoin.id).not.toBe(bJoin.id);
    expect(aJoin.name).toBe(`Guest-${aJoin.id.slice(0, 4)}`);
    a.ws.send(JSON.stringify({ x: 10, y: 20 }));
    a.ws.send("not json"); // ignored
    expect(await b.next("cursor")).toEqual({ type: "cursor", id: aJoin.id, x: 10, y: 20, color: aJoin.color, name: aJoin.name });
    a.ws.close(1000, "bye");
    expect(await b.next("leave")).toEqual({ type: "leave", id: aJoin.id, color: aJoin.color, name: aJoin.name });
    if (HARDENED) {
      // webSocketClose now closes the server side: the client's close completes
      for (let i = 0; i < 150 && a.closed === null; i++) await new Promise((r) => setTimeout(r, 20));
      expect(a.closed).toBe(1000);
    }
    expect(a.frames.filter((f) => f.type === "cursor")).toEqual([]); // never echoed to the sender
    b.ws.close(1000, "bye");
  });
});
