"""timer-blocks-hibernation: setTimeout/setInterval in a DO or a same-file helper it calls."""

from __future__ import annotations

from pathlib import Path

from tests.rules._hibernation_support import (
    check_marked,
    copy_fixture,
    run,
    write_project,
)

RULE = "timer-blocks-hibernation"


def test_timers_in_class_and_helpers_are_flagged(tmp_path: Path) -> None:
    findings = check_marked(RULE, "flagged.ts", tmp_path)
    helper = next(
        f for f in findings if f.data["timer"] == "setTimeout" and "function" in f.message
    )
    assert helper.data["delay"] == "FLUSH_MS"
    interval = next(f for f in findings if f.data["timer"] == "setInterval")
    assert interval.data["delay"] == "100"


def test_yields_scheduler_wait_and_worker_code_are_not_flagged(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_long_lived_compat_date_is_mentioned(tmp_path: Path) -> None:
    config = (
        '{ "name": "x", "main": "src/flagged.ts", "compatibility_date": "2026-10-02",\n'
        '  "durable_objects": { "bindings": [{ "name": "G", "class_name": "GameLoop" }] },\n'
        '  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["GameLoop"] }] }\n'
    )
    root = copy_fixture(RULE, ["flagged.ts"], tmp_path, config=config)
    findings, _ = run(RULE, root)
    assert findings and all("15 minutes" in f.message for f in findings)


def test_helper_not_called_by_the_class_is_not_flagged(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        {
            "src/a.ts": """import { DurableObject } from "cloudflare:workers";
function unrelated(): void {
  setInterval(() => console.log("tick"), 1_000);
}
export class Quiet extends DurableObject {
  ping(): string {
    return "pong";
  }
}
export default { fetch: () => { unrelated(); return new Response("ok"); } };
"""
        },
    )
    findings, _ = run(RULE, tmp_path)
    assert findings == []


# Timers that live within one request or event do not change hibernation (PLATFORM-FACTS:
# "A timer that lives inside one request or event ..."); only timers that outlive it are reported.
WITHIN_EVENT = """import { DurableObject } from "cloudflare:workers";
const pause = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
export class Relay extends DurableObject {
  async send(url: string): Promise<Response> {
    const limit = new Promise<Response>((_, fail) =>
      setTimeout(() => fail(new Error("slow")), 2_000),
    );
    return Promise.race([fetch(url), limit]);
  }
  async retry(url: string): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetch(url);
      } catch {
        await pause(2 ** attempt * 100);
      }
    }
  }
  async waitForReply(): Promise<string> {
    return new Promise<string>((resolve) => {
      const guard = setTimeout(() => resolve("timeout"), 5_000);
      this.onReply = (text: string) => { clearTimeout(guard); resolve(text); };
    });
  }
  async guarded(url: string): Promise<void> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 3_000);
    try {
      await fetch(url, { signal: abort.signal });
    } finally {
      clearTimeout(timer);
    }
  }
  onReply: (text: string) => void = () => {};
}
"""

OUTLIVES_EVENT = """import { DurableObject } from "cloudflare:workers";
export class Loop extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    setInterval(() => this.tick(), 1_000);
  }
  async webSocketMessage(ws: WebSocket, message: string): Promise<void> {
    setTimeout(() => ws.send(message), 10_000);
    new Promise((done) => setTimeout(done, 60_000)).then(() => this.tick());
  }
  tick(): void {}
}
"""


def test_timers_within_one_event_are_not_reported(tmp_path: Path) -> None:
    write_project(tmp_path, {"src/relay.ts": WITHIN_EVENT})
    findings, _ = run(RULE, tmp_path)
    assert findings == []


def test_timers_that_outlive_their_event_are_reported(tmp_path: Path) -> None:
    write_project(tmp_path, {"src/loop.ts": OUTLIVES_EVENT})
    findings, _ = run(RULE, tmp_path)
    # the interval from the constructor, the fire-and-forget timeout, and the promise nobody
    # awaits (its `.then` runs after the message event is over)
    assert sorted(f.data["timer"] for f in findings) == ["setInterval", "setTimeout", "setTimeout"]
