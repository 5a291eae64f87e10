// Lobby (SQLite + an idle-close alarm). Runs against the original example AND the
// hardened build: the alarm's existing job (closing idle lobbies) must keep working.
import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { pendingAlarm, runAlarmUntil, sqlIn, withClockAdvanced } from "../lib/helpers";

const IDLE_TIMEOUT_MS = 10 * 60 * 1000; // mirrors lobby.ts

const post = (path: string, player: string) =>
  SELF.fetch(`https://lobby.test${path}`, { method: "POST", body: JSON.stringify({ player }) });

const lastActivity = async (stub: DurableObjectStub) =>
  (await sqlIn<{ last_activity: number }>(stub, "SELECT last_activity FROM lobby_state WHERE id = 1"))[0]
    .last_activity;

describe("Lobby through the Worker", () => {
  it("join, leave and start over HTTP", async () => {
    expect((await post("/lobby/http-1/join", "ann")).status).toBe(200);
    const joined = await (await post("/lobby/http-1/join", "bob")).json<{ status: string; players: string[] }>();
    expect(joined).toMatchObject({ status: "open", players: ["ann", "bob"] });
    const left = await (await post("/lobby/http-1/leave", "bob")).json<{ players: string[] }>();
    expect(left.players).toEqual(["ann"]);
    const refused = await post("/lobby/http-1/start", "ann"); // one player is not enough
    expect(refused.status).toBe(409);
    expect(await refused.text()).toBe("cannot start now");
    const view = await (await SELF.fetch("https://lobby.test/lobby/http-1")).json<{ status: string }>();
    expect(view.status).toBe("open");
    expect((await SELF.fetch("https://lobby.test/elsewhere")).status).toBe(404);
  });

  it("a player leaving during the countdown cancels the start", async () => {
    const stub = env.LOBBY.getByName("countdown-cancel");
    await stub.join("ann");
    await stub.join("bob");
    expect(await stub.start("ann")).toMatchObject({ status: "starting" });
    expect((await stub.leave("bob")).status).toBe("open");
  });
});

describe("the idle-close alarm (the job alarm() had before hardening)", () => {
  it("closes a lobby idle for 10 minutes, releases its players and records it", async () => {
    const stub = env.LOBBY.getByName("idle-1");
    await stub.join("ann");
    await stub.join("bob");
    expect(await pendingAlarm(stub)).not.toBeNull();
    await withClockAdvanced(IDLE_TIMEOUT_MS + 60_000, async () => {
      await runAlarmUntil(stub, async () => (await stub.view()).status === "closed");
    });
    const view = await stub.view();
    expect(view.players).toEqual([]);
    expect(view.closedAt).toBeGreaterThan(Date.now());
    expect((await stub.recentEvents()).map((e) => e.kind)).toEqual(["closed", "joined", "joined"]);
    const again = await post("/lobby/idle-1/join", "cat");
    expect(again.status).toBe(409);
    expect(await again.text()).toBe("lobby closed");
  });

  it("an early alarm on a busy lobby keeps it open and looks again at last activity + 10 min", async () => {
    const stub = env.LOBBY.getByName("busy-1");
    await stub.join("ann");
    await stub.join("bob");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.view()).status).toBe("open");
    expect(await pendingAlarm(stub)).toBe((await lastActivity(stub)) + IDLE_TIMEOUT_MS);
  });

  it("an empty lobby is closed at the next alarm", async () => {
    const stub = env.LOBBY.getByName("empty-1");
    await stub.join("ann");
    await stub.leave("ann");
    await runAlarmUntil(stub, async () => (await stub.view()).status === "closed");
    expect((await stub.recentEvents())[0].kind).toBe("closed");
  });
});
