"""websocket-state-in-memory: which per-socket collections are lost at hibernation."""

from __future__ import annotations

from pathlib import Path

from tests.rules._hibernation_support import run

RESTORED = """import { DurableObject } from "cloudflare:workers";
export class Doc extends DurableObject {
  protected sessions = new Map<WebSocket, () => void>();
  private joined = new Map<WebSocket, number>();
  private names = new Map<WebSocket, string>();
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(this.onStart.bind(this));
  }
  protected async onStart(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) this.register(ws);
  }
  protected register(ws: WebSocket) {
    this.sessions.set(ws, () => ws.close());
  }
  async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    this.register(server);
    this.joined.set(server, Date.now());
    this.names.set(server, "guest");
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws: WebSocket, message: string) {
    this.sessions.get(ws)?.();
    ws.send(`${this.names.get(ws)}: ${message}`);
  }
  async webSocketClose(ws: WebSocket) {
    this.joined.delete(ws);
    this.sessions.delete(ws);
  }
}
"""


def test_rebuilt_through_a_helper_or_never_read_is_not_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "doc.ts").write_text(RESTORED)
    findings, _ = run("websocket-state-in-memory", tmp_path)
    # sessions is rebuilt by onStart -> register; joined is never read; names is lost
    assert [f.data["field"] for f in findings] == ["names"]
