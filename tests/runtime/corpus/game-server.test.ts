// GameServer (codyebberson/js13k-cloudflare-websocket-example): the common shape of issue 12, a
// legacy class (it keeps only `state.storage`, and `this.state` is its game) that accepts each
// socket with accept() and listens to it with closures over a per-connection `id`. Harden keeps
// the state object in `this.ctx`, accepts with `acceptWebSocket`, moves the listeners into
// `webSocketMessage`/`webSocketClose` and carries `id` in the socket's attachment: positions,
// replies and leaving behave the same, and (hardened) a woken instance still knows who each
// socket is. (Its setInterval is left as it is: it is never cleared and its work has no end.)
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { HARDENED } from "../corpus-build";

type State = { time: number; players: { id: string; x: number; y: number }[]; me: string };

class Player {
  frames: State[] = [];
  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => this.frames.push(JSON.parse(String(e.data)) as State));
    ws.accept();
  }
  async move(x: number, y: number): Promise<State> {
    const seen = this.frames.length;
    this.ws.send(JSON.stringify({ x, y }));
    return this.reply(seen);
  }
  async reply(seen: number): Promise<State> {
    for (let i = 0; i < 150 && this.frames.length === seen; i++) await new Promise((r) => setTimeout(r, 20));
    expect(this.frames.length).toBeGreaterThan(seen);
    return this.frames[seen];
  }
}

async function join(stub: DurableObjectStub): Promise<Player> {
  const response = await stub.fetch("https://do/ws", { headers: { Upgrade: "websocket" } });
  expect(response.status).toBe(101);
  return new Player(response.webSocket!);
}

const positions = (s: State) => Object.fromEntries(s.players.map((p) => [p.id, [p.x, p.y]]));

describe("GameServer", () => {
  it("refuses plain requests", async () => {
    const stub = env.GAME_SERVER.get(env.GAME_SERVER.idFromName("plain"));
    const response = await stub.fetch("https://do/ws");
    expect(response.status).toBe(400);
    expect(await response.text()).toBe("Expected websocket");
  });

  it("keeps each player's position, answers with the whole state, and drops a player who left", async () => {
    const stub = env.GAME_SERVER.get(env.GAME_SERVER.idFromName("game"));
    const a = await join(stub);
    const b = await join(stub);
    const first = await a.move(1, 2);
    expect(positions(first)).toEqual({ [first.me]: [1, 2] });
    const second = await b.move(3, 4);
    expect(second.me).not.toBe(first.me);
    expect(positions(second)).toEqual({ [first.me]: [1, 2], [second.me]: [3, 4] });
    expect((await a.move(5, 6)).me).toBe(first.me); // the same id for every frame of a socket
    a.ws.close(1000, "bye");
    await new Promise((r) => setTimeout(r, 100));
    expect(positions(await b.move(7, 8))).toEqual({ [second.me]: [7, 8] });
    b.ws.close(1000, "bye");
  });

  it("a woken instance still knows which player each open socket is (hardened)", async () => {
    const stub = env.GAME_SERVER.get(env.GAME_SERVER.idFromName("woken"));
    const a = await join(stub);
    const { me } = await a.move(1, 1);
    const seen = a.frames.length;
    await runInDurableObject(stub, async (instance: any, state: DurableObjectState) => {
      if (!HARDENED) {
        expect(state.getWebSockets()).toHaveLength(0); // accept(): the object never hibernates
        return;
      }
      const [ws] = state.getWebSockets();
      expect(ws.deserializeAttachment()).toEqual({ id: me });
      // a wake constructs the class again with the socket still open: do the same, and deliver
      // the next frame to the woken instance the way the runtime does
      const Woken = instance.constructor as new (s: DurableObjectState, e: unknown) => any;
      await new Woken(state, env).webSocketMessage(ws, JSON.stringify({ x: 9, y: 9 }));
    });
    if (HARDENED) {
      const woken = await a.reply(seen);
      expect(woken.me).toBe(me);
      expect(positions(woken)).toEqual({ [me]: [9, 9] });
    }
    a.ws.close(1000, "bye");
  });
});
