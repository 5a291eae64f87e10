import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env";

// Older events are trimmed on write; exports read at most this many.
const KEEP_EVENTS = 10_000;

export type AuditEvent = { at: number; kind: string; detail: string | null };

// Per-user audit trail, addressed by user id.
export class AuditLog extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec(`
        CREATE TABLE IF NOT EXISTS events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          at INTEGER NOT NULL,
          kind TEXT NOT NULL,
          detail TEXT
        )
      `);
    });
  }

  record(kind: string, detail?: string): void {
    const sql = this.ctx.storage.sql;
    sql.exec("INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)", Date.now(), kind, detail ?? null);
    // Ids only grow, so trimming by rowid keeps the newest events cheaply.
    sql.exec("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", KEEP_EVENTS);
  }

  recent(limit = 100): AuditEvent[] {
    return this.ctx.storage.sql
      .exec<AuditEvent>("SELECT at, kind, detail FROM events ORDER BY id DESC LIMIT ?", Math.min(limit, KEEP_EVENTS))
      .toArray();
  }
}
