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
    fix_all,
    run,
    tsc_errors,
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


LOOP = """import { DurableObject } from "cloudflare:workers";

export class Game extends DurableObject<unknown> {
  private loop: ReturnType<typeof setInterval> | undefined;
  private frame = 0;

  start(): void {
    if (this.loop) return;
    this.loop = setInterval(() => {
      this.frame += 1;
      STOP
    }, 100);
  }

  EXTRA
}
"""


def _loop(tmp_path: Path, stop: str = "", extra: str = "") -> Path:
    root = tmp_path / f"p{len(list(tmp_path.iterdir())) if tmp_path.exists() else 0}"
    (root / "src").mkdir(parents=True)
    (root / "src" / "game.ts").write_text(LOOP.replace("STOP", stop).replace("EXTRA", extra))
    return root


def test_interval_with_no_stop_and_no_end_is_not_converted(tmp_path: Path) -> None:
    # an alarm re-arming itself every 100 ms forever would run and bill after the game is over
    root = _loop(tmp_path)
    findings, model = run(RULE, root)
    (finding,) = findings
    assert fixes_for(finding, model) == []


def test_stop_inside_the_work_stops_the_alarm(tmp_path: Path) -> None:
    # `clearInterval` in the callback (game over): the moved work records the stop and the alarm
    # does not re-arm; the start guard `if (this.loop)` stays meaningful (a pending alarm)
    root = _loop(tmp_path, stop="if (this.frame > 10) clearInterval(this.loop);")
    assert fix_all(RULE, root) == 1
    text = (root / "src" / "game.ts").read_text()
    assert "setInterval(" not in text and "clearInterval(" not in text
    alarm = text.split("async alarm(): Promise<void> {")[1]
    assert (
        'if (this.frame > 10) void this.ctx.storage.put("durable-harden:timer-stopped", true);'
        in alarm
    )
    assert 'if (!(await this.ctx.storage.get<boolean>("durable-harden:timer-stopped"))) {' in alarm
    start = text.split("start(): void {")[1].split("async alarm")[0]
    assert 'void this.ctx.storage.put("durable-harden:timer-stopped", false);' in start
    # the alarm it writes re-arms conditionally: no alarm-retry-suppressed finding
    assert run("alarm-retry-suppressed", root)[0] == []
    assert run(RULE, root)[0] == []
    result = tsc_errors(root)
    if result is not None:
        assert result == "", result


def test_stop_in_another_method_becomes_a_recorded_stop(tmp_path: Path) -> None:
    extra = "end(): void {\n    if (this.loop !== undefined) {\n      clearInterval(this.loop);\n      this.loop = undefined;\n    }\n  }"
    root = _loop(tmp_path, extra=extra)
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert "No clearInterval" not in fix.review and "clearInterval(this.loop)" in fix.review
    assert fix_all(RULE, root) == 1
    text = (root / "src" / "game.ts").read_text()
    end = text.split("end(): void {")[1].split("async alarm")[0]
    # the handle is never set any more: its test goes, the stop happens whenever end() runs
    assert "if (true) {" in end
    assert 'void this.ctx.storage.put("durable-harden:timer-stopped", true);' in end


def test_handle_read_elsewhere_keeps_the_timer(tmp_path: Path) -> None:
    # `running` reads the handle: with no timer it would never be set, so no fix
    extra = "get running(): boolean {\n    return this.loop !== undefined;\n  }\n\n  end(): void {\n    clearInterval(this.loop);\n  }"
    root = _loop(tmp_path, extra=extra)
    findings, model = run(RULE, root)
    (finding,) = findings
    assert fixes_for(finding, model) == []


def test_cleared_timeout_is_cancelled_where_it_was_cleared(tmp_path: Path) -> None:
    source = """import { DurableObject } from "cloudflare:workers";

export class Lobby extends DurableObject<unknown> {
  private countdown: ReturnType<typeof setTimeout> | undefined;

  arm(): void {
    this.countdown = setTimeout(() => this.begin(), 5_000);
  }

  cancel(): void {
    clearTimeout(this.countdown);
  }

  private begin(): void {}
}
"""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lobby.ts").write_text(source)
    assert fix_all(RULE, tmp_path) == 1
    text = (tmp_path / "src" / "lobby.ts").read_text()
    cancel = text.split("cancel(): void {")[1].split("}")[0]
    assert 'void this.ctx.storage.put("durable-harden:begin-stopped", true);' in cancel
    alarm = text.split("async alarm(): Promise<void> {")[1]
    assert alarm.index('storage.get<boolean>("durable-harden:begin-stopped")') < alarm.index(
        "this.begin();"
    )
    result = tsc_errors(tmp_path)
    if result is not None:
        assert result == "", result


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


ABORT_TIMERS = """import { DurableObject } from "cloudflare:workers";
export class Fetcher extends DurableObject {
  async load(url: string): Promise<Response> {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 5_000);
    return await fetch(url, { signal: controller.signal });
  }
  async viaInit(url: string): Promise<Response> {
    const c = new AbortController();
    setTimeout(() => { c.abort(); }, 5_000);
    const init = { signal: c.signal };
    return await fetch(url, init);
  }
  async webSocketMessage(ws: WebSocket): Promise<void> {
    // nothing awaited with the signal: the timer outlives the message event
    const c = new AbortController();
    setTimeout(() => c.abort(), 5_000);
    ws.send("ok");
  }
}
"""


def test_an_abort_timer_of_awaited_work_is_not_reported(tmp_path: Path) -> None:
    """`setTimeout(() => controller.abort(), ms)` while awaiting work given `controller.signal`
    is a request timeout, not scheduled work (the abort does nothing once the work is done)."""
    write_project(tmp_path, {"src/fetcher.ts": ABORT_TIMERS})
    findings, _ = run(RULE, tmp_path)
    lines = sorted(f.span.path.read_bytes()[: f.span.start].count(b"\n") + 1 for f in findings)
    assert lines == [17]  # only the one in webSocketMessage
