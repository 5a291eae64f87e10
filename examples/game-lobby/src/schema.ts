// Schema for a lobby's SQLite database. It runs on every wake of the object
// (inside blockConcurrencyWhile), so every statement must be idempotent.
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS lobby_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  status TEXT NOT NULL,
  last_activity INTEGER NOT NULL,
  closed_at INTEGER
);

CREATE TABLE IF NOT EXISTS players (
  player_id TEXT PRIMARY KEY,
  joined_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  player_id TEXT
);
`;
