// Schema for a room's SQLite database. It runs on every wake of the object
// (inside blockConcurrencyWhile), so every statement must be idempotent.
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  room TEXT NOT NULL,
  author TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS members (
  user_id TEXT PRIMARY KEY,
  joined_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_members_joined_at ON members(joined_at);
`;
