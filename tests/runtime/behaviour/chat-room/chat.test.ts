// Client-visible behaviour of the chat-room example. Runs against the original
// example AND the hardened build: hardening must not change any of this.
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { connect, queryPlan } from "../lib/helpers";

const roomStub = (room: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(room));

describe("chat-room over HTTP", () => {
  it("stores posted messages and returns them as the room's history", async () => {
    for (const body of ["first", "second"]) {
      const res = await SELF.fetch("https://chat.test/room/http-1/messages", {
        method: "POST",
        body: JSON.stringify({ author: "ann", body }),
      });
      expect(res.status).toBe(201);
    }
    const res = await SELF.fetch("https://chat.test/room/http-1/messages");
    const history = await res.json<{ author: string; body: string }[]>();
    expect(history.map((m) => m.body)).toEqual(["first", "second"]);
  });

  it("rejects invalid messages and unknown paths", async () => {
    const bad = await SELF.fetch("https://chat.test/room/http-2/messages", {
      method: "POST",
      body: JSON.stringify({ author: "ann" }),
    });
    expect(bad.status).toBe(400);
    expect((await SELF.fetch("https://chat.test/nowhere")).status).toBe(404);
    expect((await SELF.fetch("https://chat.test/room/http-2/ws")).status).toBe(426);
  });
});

describe("chat-room over WebSocket", () => {
  it("welcomes a client that connects through the Worker, with the room's history", async () => {
    await SELF.fetch("https://chat.test/room/ws-1/messages", {
      method: "POST",
      body: JSON.stringify({ author: "ann", body: "before you came" }),
    });
    const alice = await connect(SELF, "https://chat.test/room/ws-1/ws?user=alice");
    const welcome = await alice.next((f) => f.type === "welcome", "welcome frame");
    expect(welcome.lastJoinedAt).toBeNull();
    expect(welcome.history.map((m: { body: string }) => m.body)).toEqual(["before you came"]);
    alice.ws.close(1000, "done");
  });

  it("delivers a message from one client to every client in the room", async () => {
    const alice = await connect(SELF, "https://chat.test/room/ws-2/ws?user=alice");
    const bob = await connect(SELF, "https://chat.test/room/ws-2/ws?user=bob");
    await alice.next((f) => f.type === "welcome", "alice's welcome");
    await bob.next((f) => f.type === "welcome", "bob's welcome");

    alice.send({ body: "hello bob" });
    const atBob = await bob.next((f) => f.type === "message", "message at bob");
    const atAlice = await alice.next((f) => f.type === "message", "echo at alice");
    expect(atBob).toMatchObject({ author: "alice", body: "hello bob" });
    expect(atAlice).toMatchObject({ author: "alice", body: "hello bob" });

    // Persisted: a later HTTP read sees it.
    const history = await (await SELF.fetch("https://chat.test/room/ws-2/messages")).json<{ body: string }[]>();
    expect(history.map((m) => m.body)).toContain("hello bob");
    alice.ws.close(1000, "done");
    bob.ws.close(1000, "done");
  });

  it("reports a returning member's previous visit", async () => {
    const first = await connect(SELF, "https://chat.test/room/ws-3/ws?user=carol");
    await first.next((f) => f.type === "welcome", "first welcome");
    first.ws.close(1000, "bye");
    const again = await connect(SELF, "https://chat.test/room/ws-3/ws?user=carol");
    const welcome = await again.next((f) => f.type === "welcome", "second welcome");
    expect(typeof welcome.lastJoinedAt).toBe("number");
    again.ws.close(1000, "bye");
  });
});

describe("chat-room SQLite query plans (inside the object)", () => {
  it("looks members up by primary key and prunes them through the joined_at index", async () => {
    const stub = roomStub("plans-1");
    await SELF.fetch("https://chat.test/room/plans-1/messages"); // create the schema
    const lookup = await queryPlan(stub, "SELECT joined_at FROM members WHERE user_id = ?", "u");
    expect(lookup.join("\n")).toMatch(/SEARCH members USING (COVERING )?INDEX sqlite_autoindex_members_1 \(user_id=\?\)/);
    const prune = await queryPlan(stub, "DELETE FROM members WHERE joined_at < ?", 0);
    expect(prune.join("\n")).toMatch(/SEARCH members USING (COVERING )?INDEX idx_members_joined_at \(joined_at<\?\)/);
  });
});
