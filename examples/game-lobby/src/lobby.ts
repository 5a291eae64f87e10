import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env";
import { SCHEMA_SQL } from "./schema";

// A lobby nobody has touched for this long is closed and its players released.
const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
// Time between "start" and the match actually starting (players can still leave).
const COUNTDOWN_MS = 10_000;
const MIN_PLAYERS = 2;
const MAX_PLAYERS = 8;

export type LobbyStatus = "open" | "starting" | "in_game" | "closed";

export type LobbyView = {
  status: LobbyStatus;
  players: string[];
  closedAt: number | null;
};

// join() and start() answer a refusal instead of throwing: a full or closed lobby is
// an expected answer, not an error.
export type Refusal = { refused: string };

export type LobbyEvent = { at: number; kind: string; player_id: string | null };

type StateRow = { status: LobbyStatus; last_activity: number; closed_at: number | null };

export class Lobby extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(SCHEMA_SQL);
      this.ctx.storage.sql.exec(
        "INSERT OR IGNORE INTO lobby_state (id, status, last_activity) VALUES (1, 'open', ?)",
        Date.now(),
      );
    });
  }

  async join(playerId: string): Promise<LobbyView | Refusal> {
    const state = this.state();
    if (state.status === "closed") {
      return { refused: "lobby closed" };
    }
    if (this.playerCount() >= MAX_PLAYERS) {
      return { refused: "lobby full" };
    }
    const now = Date.now();
    this.ctx.storage.sql.exec(
      "INSERT INTO players (player_id, joined_at) VALUES (?, ?) ON CONFLICT(player_id) DO NOTHING",
      playerId,
      now,
    );
    this.record("joined", playerId);
    await this.touch(now);
    return this.view();
  }

  async leave(playerId: string): Promise<LobbyView> {
    this.ctx.storage.sql.exec("DELETE FROM players WHERE player_id = ?", playerId);
    this.record("left", playerId);
    // Not enough players left for the match that was about to start.
    if (this.state().status === "starting" && this.playerCount() < MIN_PLAYERS) {
      this.ctx.storage.sql.exec("UPDATE lobby_state SET status = 'open' WHERE id = 1");
    }
    await this.touch(Date.now());
    return this.view();
  }

  async start(playerId: string): Promise<LobbyView | Refusal> {
    if (this.state().status !== "open" || this.playerCount() < MIN_PLAYERS) {
      return { refused: "cannot start now" };
    }
    this.ctx.storage.sql.exec("UPDATE lobby_state SET status = 'starting' WHERE id = 1");
    this.record("countdown", playerId);
    await this.touch(Date.now());
    setTimeout(() => this.startMatch(), COUNTDOWN_MS);
    return this.view();
  }

  view(): LobbyView {
    const state = this.state();
    const players = this.ctx.storage.sql
      .exec<{ player_id: string }>("SELECT player_id FROM players ORDER BY player_id LIMIT ?", MAX_PLAYERS)
      .toArray()
      .map((p) => p.player_id);
    return { status: state.status, players, closedAt: state.closed_at };
  }

  recentEvents(limit = 20): LobbyEvent[] {
    return this.ctx.storage.sql
      .exec<LobbyEvent>("SELECT at, kind, player_id FROM events ORDER BY id DESC LIMIT ?", limit)
      .toArray();
  }

  // The idle-close job: closes a lobby that has seen no activity for IDLE_TIMEOUT_MS.
  // It may run early (activity since it was armed): then it looks again later,
  // but only while players remain; an empty lobby is closed at once.
  async alarm(): Promise<void> {
    const state = this.state();
    if (state.status === "closed") {
      return;
    }
    const idleUntil = state.last_activity + IDLE_TIMEOUT_MS;
    if (this.playerCount() > 0 && Date.now() < idleUntil) {
      await this.ctx.storage.setAlarm(idleUntil);
      return;
    }
    this.ctx.storage.sql.exec(
      "UPDATE lobby_state SET status = 'closed', closed_at = ? WHERE id = 1",
      Date.now(),
    );
    this.ctx.storage.sql.exec("DELETE FROM players");
    this.record("closed", null);
  }

  private startMatch(): void {
    // A player may have left during the countdown (status is back to "open").
    if (this.state().status !== "starting") {
      return;
    }
    this.ctx.storage.sql.exec("UPDATE lobby_state SET status = 'in_game' WHERE id = 1");
    this.record("match_started", null);
  }

  private record(kind: string, playerId: string | null): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO events (at, kind, player_id) VALUES (?, ?, ?)",
      Date.now(),
      kind,
      playerId,
    );
  }

  // Every change counts as activity. One pending alarm is enough: alarm() re-arms
  // from last_activity when the lobby turned out to be busy.
  private async touch(now: number): Promise<void> {
    this.ctx.storage.sql.exec("UPDATE lobby_state SET last_activity = ? WHERE id = 1", now);
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(now + IDLE_TIMEOUT_MS);
    }
  }

  private state(): StateRow {
    return this.ctx.storage.sql
      .exec<StateRow>("SELECT status, last_activity, closed_at FROM lobby_state WHERE id = 1")
      .one();
  }

  private playerCount(): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM players").one().n;
  }
}
