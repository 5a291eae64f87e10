"""Planted problems in examples/ and correct code that must stay quiet.

Paths are relative to the examples/ directory. Each snippet occurs on exactly
one line of its file: the line where the diagnostic should start.
Data only; tests import EXPECTED and MUST_NOT_FLAG.
"""

# (path, unique_line_snippet, rule_id)
EXPECTED = [
    # chat-room
    ("chat-room/src/chat-room.ts", "INSERT INTO messages", "unbounded-table-growth"),
    (
        "chat-room/src/chat-room.ts",
        "SELECT author, body, created_at FROM messages WHERE room = ?",
        "sql-missing-index",
    ),
    (
        "chat-room/src/chat-room.ts",
        "setInterval(() => this.broadcastPresence(), 30_000)",
        "timer-blocks-hibernation",
    ),
    ("chat-room/src/chat-room.ts", "server.accept()", "websocket-not-hibernatable"),
    # the only deploy path is `wrangler deploy` (package.json): no gradual rollout
    ("chat-room/wrangler.jsonc", '"durable_objects": {', "rollout-unsafe"),
    # rate-limiter
    ("rate-limiter/src/session-store.ts", "async init(name: string)", "obsolete-name-workaround"),
    ("rate-limiter/src/export-job.ts", "this.ctx.id.name", "id-name-undefined"),
    ("rate-limiter/wrangler.jsonc", '"class_name": "AuditLog"', "class-not-exported"),
    ("rate-limiter/wrangler.jsonc", '"class_name": "ExportJob"', "binding-missing-migration"),
    ("rate-limiter/wrangler.jsonc", '"durable_objects": {', "rollout-unsafe"),
    # game-lobby: events only grows; the countdown is a setTimeout (alarm() already has a job)
    (
        "game-lobby/src/lobby.ts",
        "INSERT INTO events (at, kind, player_id)",
        "unbounded-table-growth",
    ),
    (
        "game-lobby/src/lobby.ts",
        "setTimeout(() => this.startMatch(), COUNTDOWN_MS);",
        "timer-blocks-hibernation",
    ),
    ("game-lobby/wrangler.jsonc", '"durable_objects": {', "rollout-unsafe"),
]

# (path, unique_line_snippet): no diagnostic of any rule may start on these lines.
MUST_NOT_FLAG = [
    # chat-room: members is pruned, and both of its queries use an index.
    ("chat-room/src/schema.ts", "CREATE TABLE IF NOT EXISTS members"),
    ("chat-room/src/chat-room.ts", "DELETE FROM members WHERE joined_at < ?"),
    ("chat-room/src/chat-room.ts", "SELECT joined_at FROM members WHERE user_id = ?"),
    ("chat-room/src/chat-room.ts", "`INSERT INTO members (user_id, joined_at) VALUES (?, ?)"),
    # chat-room: outbound socket (can never hibernate; accept() is required).
    (
        "chat-room/src/chat-room.ts",
        'const resp = await fetch(this.env.MODERATION_URL, { headers: { Upgrade: "websocket" } });',
    ),
    ("chat-room/src/chat-room.ts", "ws?.accept();"),
    # chat-room: yielding to the event loop is not a pending timer.
    ("chat-room/src/chat-room.ts", "await scheduler.wait(0);"),
    # chat-room: class is exported, bound and migrated.
    ("chat-room/src/index.ts", 'export { ChatRoom } from "./chat-room";'),
    ("chat-room/wrangler.jsonc", '"class_name": "ChatRoom"'),
    ("chat-room/src/chat-room.ts", "ctx.blockConcurrencyWhile(async () => {"),
    # rate-limiter: key-value API + alarm with a getAlarm() guard.
    ("rate-limiter/src/rate-limiter.ts", 'await this.ctx.storage.put("bucket", bucket);'),
    ("rate-limiter/src/rate-limiter.ts", "if ((await this.ctx.storage.getAlarm()) === null) {"),
    ("rate-limiter/src/rate-limiter.ts", "await this.ctx.storage.setAlarm(now + IDLE_TTL_MS);"),
    ("rate-limiter/src/rate-limiter.ts", "async alarm(): Promise<void> {"),
    # rate-limiter: SessionStore through a `this.sql` alias, indexed TTL cleanup.
    ("rate-limiter/src/session-store.ts", "this.sql = ctx.storage.sql;"),
    ("rate-limiter/src/session-store.ts", "INSERT INTO sessions"),
    (
        "rate-limiter/src/session-store.ts",
        "SELECT id, user_id, data, expires_at FROM sessions WHERE id = ?",
    ),
    ("rate-limiter/src/session-store.ts", "DELETE FROM sessions WHERE expires_at <= ?"),
    ("rate-limiter/src/session-store.ts", "SELECT MIN(expires_at) AS next FROM sessions"),
    # rate-limiter: AuditLog trims by rowid; newest-first read walks the rowid.
    ("rate-limiter/src/audit-log.ts", "INSERT INTO events"),
    (
        "rate-limiter/src/audit-log.ts",
        "SELECT at, kind, detail FROM events ORDER BY id DESC LIMIT ?",
    ),
    # rate-limiter: bindings that are exported and migrated.
    ("rate-limiter/wrangler.jsonc", '"class_name": "RateLimiter"'),
    ("rate-limiter/wrangler.jsonc", '"class_name": "SessionStore"'),
    # rate-limiter: getByName() callers whose objects read nothing from ctx.id.
    (
        "rate-limiter/src/index.ts",
        "const verdict = await env.RATE_LIMITER.getByName(client).take();",
    ),
    # game-lobby: the idle-close alarm (getAlarm() guard, re-armed only while players remain)
    ("game-lobby/src/lobby.ts", "async alarm(): Promise<void> {"),
    ("game-lobby/src/lobby.ts", "if ((await this.ctx.storage.getAlarm()) === null) {"),
    ("game-lobby/src/lobby.ts", "await this.ctx.storage.setAlarm(now + IDLE_TIMEOUT_MS);"),
    ("game-lobby/src/lobby.ts", "await this.ctx.storage.setAlarm(idleUntil);"),
    # game-lobby: players are deleted on leave/close; lobby_state is one constant-key row
    ("game-lobby/src/lobby.ts", '"INSERT INTO players (player_id, joined_at) VALUES (?, ?)'),
    ("game-lobby/src/lobby.ts", '"INSERT OR IGNORE INTO lobby_state (id, status, last_activity)'),
    ("game-lobby/src/schema.ts", "CREATE TABLE IF NOT EXISTS players"),
    # game-lobby: newest-first read walks the rowid; state by primary key
    ("game-lobby/src/lobby.ts", "SELECT at, kind, player_id FROM events ORDER BY id DESC LIMIT ?"),
    ("game-lobby/src/lobby.ts", "FROM lobby_state WHERE id = 1"),
    ("game-lobby/wrangler.jsonc", '"class_name": "Lobby"'),
]
