// verifies: websocket-not-hibernatable
// Sockets go through the WebSocket Hibernation API after hardening.
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { connect, eventually, inObject } from "../../lib/helpers";

const roomStub = (room: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(room));
const openSockets = (room: string) =>
  runInDurableObject(roomStub(room), (_i, state) => state.getWebSockets().length);

it("accepts sockets with acceptWebSocket (the runtime knows them: getWebSockets)", async () => {
  const alice = await connect(SELF, "https://chat.test/room/hib-1/ws?user=alice");
  const bob = await connect(SELF, "https://chat.test/room/hib-1/ws?user=bob");
  await alice.next((f) => f.type === "welcome", "alice's welcome");
  await bob.next((f) => f.type === "welcome", "bob's welcome");
  expect(await openSockets("hib-1")).toBe(2);
  alice.ws.close(1000, "done");
  bob.ws.close(1000, "done");
});

it("delivers client frames to webSocketMessage", async () => {
  const alice = await connect(SELF, "https://chat.test/room/hib-2/ws?user=alice");
  await alice.next((f) => f.type === "welcome", "welcome");
  const calls: unknown[] = [];
  await inObject(roomStub("hib-2"), (instance) => {
    expect(typeof instance.webSocketMessage).toBe("function");
    const original = instance.webSocketMessage.bind(instance);
    // The runtime looks the handler up on the instance for each frame.
    instance.webSocketMessage = async (ws: WebSocket, message: string | ArrayBuffer) => {
      calls.push(message);
      return original(ws, message);
    };
  });
  alice.send({ body: "through the handler" });
  const echoed = await alice.next((f) => f.type === "message", "broadcast of the message");
  expect(echoed.body).toBe("through the handler");
  expect(calls).toEqual([JSON.stringify({ body: "through the handler" })]);
  alice.ws.close(1000, "done");
});

it("completes the close handshake when the client closes (normal and without a code)", async () => {
  for (const [user, code] of [["carol", 1000], ["dave", undefined]] as const) {
    const client = await connect(SELF, `https://chat.test/room/hib-3/ws?user=${user}`);
    await client.next((f) => f.type === "welcome", `${user}'s welcome`);
    if (code === undefined) client.ws.close(); // the server sees 1005 (no status)
    else client.ws.close(code, "bye");
    await eventually(async () => client.closed !== null, `close handshake for ${user}`);
  }
  await eventually(async () => (await openSockets("hib-3")) === 0, "the room to drop closed sockets");
  // The object is still healthy afterwards.
  expect((await SELF.fetch("https://chat.test/room/hib-3/messages")).status).toBe(200);
});

it("webSocketClose does not throw for the reserved codes 1005 and 1006", async () => {
  for (const code of [1005, 1006]) {
    const client = await connect(SELF, `https://chat.test/room/hib-4/ws?user=u${code}`);
    await client.next((f) => f.type === "welcome", "welcome");
    await inObject(roomStub("hib-4"), async (instance, state) => {
      const [server] = state.getWebSockets();
      // Called the way the runtime calls it; echoing a reserved code would throw InvalidAccessError.
      await instance.webSocketClose(server, code, "", code === 1005);
    });
    await eventually(async () => client.closed !== null, `client sees the close after ${code}`);
    expect(client.closed!.code).not.toBe(1006);
  }
});
