// Realtime (deco-cx/realtime): a file volume kept in KV storage and memory, broadcasting each
// change to the sockets watching it. Harden accepts the sockets with `acceptWebSocket` and
// moves the "close" listener into `webSocketClose` (websocket-not-hibernatable): watching,
// broadcasting and closing behave the same, and (hardened) a woken instance still reaches the
// sockets that stayed connected through hibernation. `fast-json-patch` is not installed here
// (a stub that throws): JSON-patch requests are not exercised.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { HARDENED } from "../corpus-build";

class Watcher {
  frames: any[] = [];
  closed: number | null = null;
  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => this.frames.push(JSON.parse(String(e.data))));
    ws.addEventListener("close", (e) => (this.closed = e.code));
    ws.accept();
  }
  async next(pred: (f: any) => boolean, what: string): Promise<any> {
    for (let i = 0; i < 150; i++) {
      const at = this.frames.findIndex(pred);
      if (at >= 0) return this.frames.splice(at, 1)[0];
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no frame: ${what}`);
  }
}

const volume = (name: string) => env.REALTIME.get(env.REALTIME.idFromName(name));

async function watch(stub: DurableObjectStub, name: string): Promise<Watcher> {
  const response = await stub.fetch(`https://do/volumes/${name}/files`, { headers: { Upgrade: "websocket" } });
  expect(response.status).toBe(101);
  return new Watcher(response.webSocket!);
}

const put = (stub: DurableObjectStub, name: string, fs: Record<string, { content: string }>) =>
  stub.fetch(`https://do/volumes/${name}/files`, { method: "PUT", body: JSON.stringify(fs) });

describe("Realtime", () => {
  it("refuses a watch without Upgrade, stores files and lists them", async () => {
    const stub = volume("files");
    expect((await stub.fetch("https://do/volumes/files/files")).status).toBe(400);
    expect((await put(stub, "files", { "/a.txt": { content: "alpha" }, "/b/c.txt": { content: "gamma" } })).status).toBe(204);
    const listed = (await (await stub.fetch("https://do/volumes/files/files/?content=true")).json()) as any;
    expect(listed.fs).toEqual({ "/a.txt": { content: "alpha" }, "/b/c.txt": { content: "gamma" } });
    const names = (await (await stub.fetch("https://do/volumes/files/files/b")).json()) as any;
    expect(names.fs).toEqual({ "/b/c.txt": { content: null } });
  });

  it("broadcasts each change to every watcher, and closes a watcher that leaves", async () => {
    const stub = volume("watched");
    const a = await watch(stub, "watched");
    const b = await watch(stub, "watched");
    expect((await put(stub, "watched", { "/x.txt": { content: "one" } })).status).toBe(204);
    for (const w of [a, b]) expect((await w.next((f) => f.path === "/x.txt", "put broadcast")).timestamp).toBeTypeOf("number");
    const patched = await stub.fetch("https://do/volumes/watched/files", {
      method: "PATCH",
      body: JSON.stringify({ messageId: "m1", patches: [{ path: "/x.txt", content: "two" }] }),
    });
    expect(((await patched.json()) as any).results).toEqual([{ accepted: true, path: "/x.txt", content: "two", deleted: false }]);
    for (const w of [a, b]) expect(await w.next((f) => f.messageId === "m1", "patch broadcast")).toMatchObject({ path: "/x.txt", deleted: false });
    a.ws.close(1000, "bye");
    for (let i = 0; i < 150 && a.closed === null; i++) await new Promise((r) => setTimeout(r, 20));
    expect(a.closed).toBe(1000); // the object closes its side when the watcher leaves
    await new Promise((r) => setTimeout(r, 50));
    expect((await put(stub, "watched", { "/y.txt": { content: "three" } })).status).toBe(204);
    expect(await b.next((f) => f.path === "/y.txt", "broadcast after a leave")).toBeTruthy();
    expect(a.frames.filter((f) => f.path === "/y.txt")).toEqual([]);
    await runInDurableObject(stub, async (_i: unknown, s: DurableObjectState) => {
      expect([...(await s.storage.list({ prefix: "meta::" })).keys()]).toEqual(["meta::/y.txt"]);
    });
    b.ws.close(1000, "bye");
  });

  it("a watcher connected before a wake still gets the broadcasts (hardened: hibernatable)", async () => {
    const stub = volume("woken");
    const a = await watch(stub, "woken");
    await runInDurableObject(stub, async (instance: any, state: DurableObjectState) => {
      if (!HARDENED) {
        // accept(): the runtime does not know the socket, the object can never hibernate
        expect(state.getWebSockets()).toHaveLength(0);
        return;
      }
      expect(state.getWebSockets()).toHaveLength(1);
      // a wake constructs the class again with the socket still open: do the same here and
      // send a change through the woken instance
      const Woken = instance.constructor as new (s: DurableObjectState, e: unknown) => any;
      const woken = new Woken(state, env);
      woken.broadcast({ path: "/after-wake.txt", timestamp: 1 });
    });
    if (HARDENED) expect(await a.next((f) => f.path === "/after-wake.txt", "broadcast from the woken instance")).toBeTruthy();
    a.ws.close(1000, "bye");
  });
});
