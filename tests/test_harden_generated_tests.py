"""The tests harden generates check the pattern itself: the request reaching a DO's WebSocket
upgrade is derived from its `fetch()` (or the weaker test is written), and the timer test names
the callback the alarm must run. Their behaviour in workerd, including failing on a broken
pattern, is checked in tests/runtime (test_breaking_the_pattern_fails_the_generated_test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions.harden import harden
from tests.rules._hibernation_support import EXAMPLES, run, write_project

WS = "websocket-not-hibernatable"
TIMER = "timer-blocks-hibernation"

CLASS = """import {{ DurableObject }} from "cloudflare:workers";

export class Room extends DurableObject {{
  async fetch(request: Request): Promise<Response> {{
{fetch}
  }}
{extra}
}}
"""

ACCEPT = """    const pair = new WebSocketPair();
    const [client, server] = Object.values(pair);
    server.accept();
    server.addEventListener("message", (event) => server.send(String(event.data)));
    return new Response(null, { status: 101, webSocket: client });"""


def _url(tmp_path: Path, fetch: str, extra: str = "") -> str | None:
    write_project(tmp_path, {"src/room.ts": CLASS.format(fetch=fetch, extra=extra)})
    findings, _ = run(WS, tmp_path)
    accepts = [f for f in findings if f.data.get("kind") == "accept"]
    assert len(accepts) == 1
    return accepts[0].data["upgrade_url"]


def test_url_from_path_segments_and_query_through_a_helper_method(tmp_path: Path) -> None:
    fetch = """    const [, , room = "lobby", action = ""] = new URL(request.url).pathname.split("/");
    if (action === "ws") {
      return this.join(request, room);
    }
    return new Response("not found", { status: 404 });"""
    join = (
        """
  private join(request: Request, room: string): Response {
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const userId = new URL(request.url).searchParams.get("user");
    if (!userId) {
      return new Response("missing ?user=", { status: 400 });
    }
"""
        + ACCEPT.replace("    ", "  ", 1)
        + "\n  }"
    )
    assert (
        _url(tmp_path, fetch, join)
        == "https://durable-harden.test/durable-harden/durable-harden/ws?user=durable-harden"
    )


def test_url_from_pathname_comparison_and_query_literal(tmp_path: Path) -> None:
    fetch = (
        """    const url = new URL(request.url);
    if (url.pathname !== "/connect" || url.searchParams.get("mode") !== "live") {
      return new Response("no", { status: 404 });
    }
    const token = url.searchParams.get("token");
    if (token === null) throw new Error("token");
"""
        + ACCEPT
    )
    assert (
        _url(tmp_path, fetch)
        == "https://durable-harden.test/connect?mode=live&token=durable-harden"
    )


def test_url_from_switch_and_prefix(tmp_path: Path) -> None:
    fetch = (
        """    const url = new URL(request.url);
    if (!url.pathname.startsWith("/rooms/")) return new Response("no", { status: 404 });
    switch (url.pathname) {
      case "/rooms/live": {
"""
        + ACCEPT
        + """
      }
    }
    return new Response("no", { status: 404 });"""
    )
    assert _url(tmp_path, fetch) == "https://durable-harden.test/rooms/live"


@pytest.mark.parametrize(
    "guard",
    [
        # a check the analysis does not understand: no URL is guessed
        '    const user = new URL(request.url).searchParams.get("user");\n'
        '    if (!user || !/^[a-z]+$/.test(user)) return new Response("bad", { status: 400 });',
        # "anything but X" is not derived
        '    if (new URL(request.url).pathname === "/health") return new Response("ok");',
        # an early exit whose condition is opaque
        '    if (await this.isFull()) return new Response("full", { status: 503 });',
    ],
)
def test_unknown_conditions_give_no_url(tmp_path: Path, guard: str) -> None:
    assert _url(tmp_path, guard + "\n" + ACCEPT, "\n  async isFull() { return false; }") is None


def test_upgrade_in_a_method_with_two_callers_gives_no_url(tmp_path: Path) -> None:
    fetch = """    if (request.method === "GET") return this.open();
    return this.open();"""
    extra = "\n  private open(): Response {\n" + ACCEPT + "\n  }"
    assert _url(tmp_path, fetch, extra) is None


def test_timer_finding_names_callback_and_arming_method(tmp_path: Path) -> None:
    source = """import { DurableObject } from "cloudflare:workers";

export class Room extends DurableObject {
  private timer: number | undefined;
  private tick(): void {}
  private start(): void {
    this.timer = setInterval(() => this.tick(), 5_000);
  }
  private later(delay: number): void {
    setTimeout(this.tick.bind(this), delay);
  }
  private other(): void {
    setTimeout(() => { console.log("x"); this.tick(); }, 1_000);
  }
}
"""
    write_project(tmp_path, {"src/room.ts": source})
    findings, _ = run(TIMER, tmp_path)
    got = {(f.data["callback"], f.data["arming_method"]) for f in findings}
    assert got == {("tick", "start"), ("tick", None), (None, "other")}


@pytest.fixture
def chat_room(tmp_path: Path) -> Path:
    dest = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", dest, ignore=shutil.ignore_patterns("node_modules"))
    return dest


def test_chat_room_tests_open_a_socket_and_spy_on_the_moved_work(chat_room: Path) -> None:
    plan = harden([chat_room], unsafe=True)
    text = plan.contents[chat_room / "test" / "durable-harden" / "chat-room.test.ts"].decode()
    assert 'import { describe, expect, it, vi } from "vitest";' in text
    # WebSocket: the upgrade request derived from fetch()/join(), socket known to the runtime
    assert (
        'stub.fetch("https://durable-harden.test/durable-harden/durable-harden/ws?user=durable-harden"'
        in text
    )
    assert "expect(await open()).toBe(before + 1);" in text
    assert 'expect([...events].sort()).toEqual(["webSocketClose", "webSocketMessage"]);' in text
    assert "client!.close(1000" in text
    # timer: startPresence() arms the alarm, the alarm runs broadcastPresence()
    assert "object.broadcastPresence = (...args: unknown[]) => {" in text
    assert "await object.startPresence();" in text
    assert "vi.setSystemTime(Date.now() + 30_000 + 1_000);" in text
    notes = "\n".join(plan.notes)
    assert "no setInterval/setTimeout left in the class (checked when generated)" in notes


def test_weaker_websocket_test_when_the_request_is_unknown(tmp_path: Path) -> None:
    fetch = '    if (await this.isFull()) return new Response("full", { status: 503 });\n' + ACCEPT
    extra = "\n  async isFull() { return false; }"
    write_project(
        tmp_path,
        {
            "src/room.ts": CLASS.format(fetch=fetch, extra=extra),
            "wrangler.jsonc": """{
  "name": "room",
  "main": "src/room.ts",
  "compatibility_date": "2026-01-01",
  "durable_objects": { "bindings": [{ "name": "ROOM", "class_name": "Room" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room"] }]
}
""",
        },
    )
    plan = harden([tmp_path], unsafe=True)
    text = plan.contents[tmp_path / "test" / "durable-harden" / "room.test.ts"].decode()
    assert "stub.fetch(" not in text
    assert 'expect(typeof handlers.webSocketMessage).toBe("function");' in text
    assert any("could not be derived" in note for note in plan.notes)
