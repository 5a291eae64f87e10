// verifies: websocket-not-hibernatable
// Who is connected survives hibernation: each socket carries its connection as its
// attachment and the constructor (which runs again on wake) rebuilds the socket map.
import { env, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { connect, inObject } from "../../lib/helpers";

const roomStub = (room: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(room));

it("each socket carries its connection as its attachment", async () => {
  const alice = await connect(SELF, "https://chat.test/room/state-1/ws?user=alice");
  await alice.next((f) => f.type === "welcome", "welcome");
  const attachments = await inObject(roomStub("state-1"), (_instance, state) =>
    state.getWebSockets().map((ws) => ws.deserializeAttachment()),
  );
  expect(attachments).toEqual([{ userId: "alice", room: "state-1" }]);
  alice.ws.close(1000, "done");
});

it("a fresh instance (as after a wake) knows every connected user and reaches them", async () => {
  const alice = await connect(SELF, "https://chat.test/room/state-2/ws?user=alice");
  const bob = await connect(SELF, "https://chat.test/room/state-2/ws?user=bob");
  await alice.next((f) => f.type === "welcome", "alice's welcome");
  await bob.next((f) => f.type === "welcome", "bob's welcome");
  await inObject(roomStub("state-2"), (instance, state) => {
    // A wake constructs the class again with the sockets still open; do the same here.
    const Woken = instance.constructor as new (ctx: DurableObjectState, e: unknown) => any;
    const woken = new Woken(state, env);
    const users = [...woken.sockets.values()].map((c: { userId: string }) => c.userId);
    expect(users.sort()).toEqual(["alice", "bob"]);
    woken.broadcastPresence();
  });
  for (const client of [alice, bob]) {
    const presence = await client.next((f) => f.type === "presence", "presence from the woken instance");
    expect([...presence.online].sort()).toEqual(["alice", "bob"]);
  }
  alice.ws.close(1000, "done");
  bob.ws.close(1000, "done");
});
