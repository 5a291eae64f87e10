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
