"""timer-blocks-hibernation: setTimeout/setInterval in a DO or a same-file helper it calls; the fix
turns the timer into an alarm (unsafe), through a schedule table when alarm() already serves
another purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    FIXTURES,
    check_fix_fixture,
    check_marked,
    copy_fixture,
    run,
    write_project,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "timer-blocks-hibernation"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


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


def test_game_loop_in_constructor(tmp_path: Path) -> None:
    path = check_fix_fixture(RULE, "fix-game-loop", tmp_path)
    findings, _ = run(RULE, tmp_path)
    assert findings == []
    assert "setAlarm(Date.now() + 100)" in path.read_text()


def test_game_loop_fix_says_timing_changes(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    shutil.copy(FIXTURES / RULE / "fix-game-loop.before.ts", tmp_path / "src" / "g.ts")
    findings, model = run(RULE, tmp_path)
    (fix,) = fixes_for(findings[0], model)
    assert fix.safety is Safety.UNSAFE
    assert "Timing changes" in fix.review and "sub-second" in fix.review


def test_existing_ttl_alarm_and_new_timer_share_a_schedule(tmp_path: Path) -> None:
    path = check_fix_fixture(RULE, "fix-shared", tmp_path)
    text = path.read_text()
    assert "private async alarmDefault()" in text  # the TTL cleanup survives
    assert 'case "pulse":' in text and 'case "default":' in text
    assert "getAlarm()) === null" not in text.split("async add(")[1].split("}")[0]


def test_callback_using_method_locals_is_not_rewritten(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.ts").write_text(
        """import { DurableObject } from "cloudflare:workers";
export class Reminder extends DurableObject {
  remind(user: string, ms: number): void {
    setTimeout(() => console.log("remind", user), ms);
  }
}
"""
    )
    findings, model = run(RULE, tmp_path)
    assert len(findings) == 1
    assert fixes_for(findings[0], model) == []


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
