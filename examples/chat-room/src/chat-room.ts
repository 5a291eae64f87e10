import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env";
import { SCHEMA_SQL } from "./schema";

const MAX_BODY_LENGTH = 2_000;
// Members who have not come back for 30 days are forgotten.
const MEMBER_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
// Fan-out yields to the event loop after this many sends.
const FANOUT_BATCH = 100;

type ChatMessage = {
  author: string;
  body: string;
  created_at: number;
};

interface Connection {
  userId: string;
  room: string;
}

export class ChatRoom extends DurableObject<Env> {
  private readonly sockets = new Map<WebSocket, Connection>();
  private presenceTimer: number | undefined;
  private moderation: Promise<WebSocket | null> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(SCHEMA_SQL);
    });
  }

  async fetch(request: Request): Promise<Response> {
    // Path is /room/<name>[/<action>]; the Worker has already validated it.
    const [, , room = "lobby", action = ""] = new URL(request.url).pathname.split("/");

    if (action === "ws") {
      return this.join(request, room);
    }
    if (action === "messages" && request.method === "GET") {
      return Response.json(this.history(room));
    }
    if (action === "messages" && request.method === "POST") {
      const { author, body } = await request.json<{ author?: string; body?: string }>();
      if (!author || !body || body.length > MAX_BODY_LENGTH) {
        return new Response("invalid message", { status: 400 });
      }
      const message = this.saveMessage(room, author, body);
      await this.broadcast({ type: "message", ...message });
      return Response.json(message, { status: 201 });
    }
    return new Response("not found", { status: 404 });
  }

  private join(request: Request, room: string): Response {
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const userId = new URL(request.url).searchParams.get("user");
    if (!userId) {
      return new Response("missing ?user=", { status: 400 });
    }

    const pair = new WebSocketPair();
    const [client, server] = Object.values(pair);
    server.accept();
    this.sockets.set(server, { userId, room });

    server.addEventListener("message", (event) => {
      void this.onMessage(server, event.data);
    });
    server.addEventListener("close", () => this.leave(server));
    server.addEventListener("error", () => this.leave(server));

    const lastJoinedAt = this.touchMember(userId);
    server.send(JSON.stringify({ type: "welcome", lastJoinedAt, history: this.history(room) }));
    this.startPresence();

    return new Response(null, { status: 101, webSocket: client });
  }

  private async onMessage(ws: WebSocket, data: unknown): Promise<void> {
    const conn = this.sockets.get(ws);
    if (!conn || typeof data !== "string") {
      return;
    }
    let body: string;
    try {
      body = String(JSON.parse(data).body ?? "").trim();
    } catch {
      return;
    }
    if (!body || body.length > MAX_BODY_LENGTH) {
      return;
    }

    const message = this.saveMessage(conn.room, conn.userId, body);
    await this.mirrorToModeration(conn.room, message);
    await this.broadcast({ type: "message", ...message });
  }

  private saveMessage(room: string, author: string, body: string): ChatMessage {
    const created_at = Date.now();
    this.ctx.storage.sql.exec(
      "INSERT INTO messages (room, author, body, created_at) VALUES (?, ?, ?, ?)",
      room,
      author,
      body,
      created_at,
    );
    return { author, body, created_at };
  }

  private history(room: string): ChatMessage[] {
    return this.ctx.storage.sql
      .exec<ChatMessage>(
        "SELECT author, body, created_at FROM messages WHERE room = ? ORDER BY created_at DESC LIMIT 50",
        room,
      )
      .toArray()
      .reverse();
  }

  // Records a visit and returns the previous one (null for first-timers).
  private touchMember(userId: string): number | null {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM members WHERE joined_at < ?", now - MEMBER_RETENTION_MS);

    const previous = sql
      .exec<{ joined_at: number }>("SELECT joined_at FROM members WHERE user_id = ?", userId)
      .toArray()[0];
    sql.exec(
      `INSERT INTO members (user_id, joined_at) VALUES (?, ?)
       ON CONFLICT(user_id) DO UPDATE SET joined_at = excluded.joined_at`,
      userId,
      now,
    );
    return previous?.joined_at ?? null;
  }

  private startPresence(): void {
    if (this.presenceTimer !== undefined) {
      return;
    }
    this.presenceTimer = setInterval(() => this.broadcastPresence(), 30_000);
  }

  private broadcastPresence(): void {
    const online = [...new Set([...this.sockets.values()].map((c) => c.userId))];
    void this.broadcast({ type: "presence", online });
  }

  private leave(ws: WebSocket): void {
    this.sockets.delete(ws);
    if (this.sockets.size === 0 && this.presenceTimer !== undefined) {
      clearInterval(this.presenceTimer);
      this.presenceTimer = undefined;
    }
  }

  private async broadcast(payload: object): Promise<void> {
    const frame = JSON.stringify(payload);
    let sent = 0;
    for (const ws of [...this.sockets.keys()]) {
      try {
        ws.send(frame);
      } catch {
        this.leave(ws);
      }
      // Big rooms: let queued socket events run between batches.
      if (++sent % FANOUT_BATCH === 0) {
        await scheduler.wait(0);
      }
    }
  }

  private async mirrorToModeration(room: string, message: ChatMessage): Promise<void> {
    const upstream = await this.moderationSocket();
    upstream?.send(JSON.stringify({ room, ...message }));
  }

  // One outbound socket to the moderation service, opened on first use.
  private moderationSocket(): Promise<WebSocket | null> {
    this.moderation ??= this.connectModeration();
    return this.moderation;
  }

  private async connectModeration(): Promise<WebSocket | null> {
    const resp = await fetch(this.env.MODERATION_URL, { headers: { Upgrade: "websocket" } });
    const ws = resp.webSocket;
    if (!ws) {
      console.warn("moderation upstream refused the upgrade", resp.status);
      this.moderation = null;
    }
    ws?.accept();
    ws?.addEventListener("close", () => {
      this.moderation = null;
    });
    return ws;
  }
}
