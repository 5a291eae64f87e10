import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env";

const DEFAULT_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export type Session = {
  id: string;
  user_id: string;
  data: string | null;
  expires_at: number;
};

// All login sessions of one user; the Worker addresses it by user id.
export class SessionStore extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS sessions (
          id TEXT PRIMARY KEY,
          user_id TEXT NOT NULL,
          data TEXT,
          expires_at INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions(expires_at);
      `);
    });
  }

  // An object cannot tell which user it belongs to, so the Worker hands it
  // the user id before first use.
  async init(name: string): Promise<void> {
    await this.ctx.storage.put("name", name);
  }

  async create(data: unknown, ttlMs = DEFAULT_TTL_MS): Promise<string> {
    const userId = await this.ctx.storage.get<string>("name");
    if (!userId) {
      throw new Error("SessionStore used before init()");
    }
    const id = crypto.randomUUID();
    const expiresAt = Date.now() + ttlMs;
    this.sql.exec(
      "INSERT INTO sessions (id, user_id, data, expires_at) VALUES (?, ?, ?, ?)",
      id,
      userId,
      JSON.stringify(data ?? null),
      expiresAt,
    );
    await this.scheduleCleanup(expiresAt);
    return id;
  }

  lookup(id: string): Session | null {
    const row = this.sql
      .exec<Session>("SELECT id, user_id, data, expires_at FROM sessions WHERE id = ?", id)
      .toArray()[0];
    // The alarm may not have run yet; never hand out an expired session.
    return row && row.expires_at > Date.now() ? row : null;
  }

  revoke(id: string): void {
    this.sql.exec("DELETE FROM sessions WHERE id = ?", id);
  }

  // TTL sweep: drop what has expired, then wake up for the next expiry.
  async alarm(): Promise<void> {
    this.sql.exec("DELETE FROM sessions WHERE expires_at <= ?", Date.now());
    const { next } = this.sql
      .exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM sessions")
      .one();
    if (next !== null) {
      await this.ctx.storage.setAlarm(next);
    }
  }

  private async scheduleCleanup(expiresAt: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > expiresAt) {
      await this.ctx.storage.setAlarm(expiresAt);
    }
  }
}
