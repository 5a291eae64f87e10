"""setalarm-without-handler: setAlarm() with no alarm() (own or inherited) throws a TypeError."""

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
    tsc_errors,
    write_project,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "setalarm-without-handler"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_setalarm_outside_the_constructor_is_flagged(tmp_path: Path) -> None:
    findings = check_marked(RULE, "flagged.ts", tmp_path)
    assert len(findings) == 3
    assert all("TypeError" in f.message for f in findings)


def test_inherited_field_and_constructor_only_handlers_are_quiet(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_base_class_in_another_file_is_followed(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        {
            "src/base.ts": """import { DurableObject } from "cloudflare:workers";
export class Base extends DurableObject<unknown> {
  async alarm(): Promise<void> {}
}
export class NoHandler extends DurableObject<unknown> {}
""",
            "src/child.ts": """import { Base, NoHandler } from "./base";
export class WithHandler extends Base {
  async arm(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + 1000);
  }
}
export class Without extends NoHandler {
  async arm(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + 1000);
  }
}
""",
        },
    )
    findings, _ = run(RULE, tmp_path)
    assert [f.data["class"] for f in findings] == ["Without"]


def test_library_base_classes_bring_their_own_handler(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        {
            "src/agent.ts": """import { Agent } from "agents";
export class Helper extends Agent<unknown> {
  async later(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + 1000);
  }
}
""",
        },
    )
    findings, _ = run(RULE, tmp_path)
    assert findings == []


def test_fix_calls_the_handler_written_under_another_name(tmp_path: Path) -> None:
    path = check_fix_fixture(RULE, "fix-on-alarm", tmp_path)
    findings, _ = run(RULE, tmp_path)
    assert findings == []
    result = tsc_errors(tmp_path)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result
    assert "async alarm(info?: AlarmInvocationInfo)" in path.read_text()


def test_fix_is_unsafe(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    shutil.copy(FIXTURES / RULE / "fix-on-alarm.before.ts", tmp_path / "src" / "e.ts")
    findings, model = run(RULE, tmp_path)
    (finding,) = findings
    assert "`onAlarm()` looks like the handler" in finding.message
    (fix,) = fixes_for(finding, model)
    assert fix.safety is Safety.UNSAFE and "onAlarm" in fix.review


def test_no_fix_when_the_purpose_is_unknown(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["no-purpose.ts"], tmp_path)
    findings, model = run(RULE, root)
    assert len(findings) == 1
    assert fixes_for(findings[0], model) == []


INSTALLED = """import { DurableObject } from "cloudflare:workers";
function installAlarm(target: { alarm?: () => Promise<void> }, run: () => Promise<void>) {
  target.alarm = run;
}
export class Helper extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    installAlarm(this, async () => {});
  }
  async later() {
    await this.ctx.storage.setAlarm(Date.now() + 1000);
  }
}
export class Field extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    Object.defineProperty(this, "alarm", { value: async () => {} });
  }
  async later() {
    await this.ctx.storage.setAlarm(Date.now() + 1000);
  }
}
export class Missing extends DurableObject {
  async later() {
    await this.ctx.storage.setAlarm(Date.now() + 1000);
  }
}
"""


def test_alarm_installed_on_the_instance_at_run_time_counts(tmp_path: Path) -> None:
    write_project(tmp_path, {"src/installed.ts": INSTALLED})
    findings, _ = run(RULE, tmp_path)
    assert [f.data["class"] for f in findings] == ["Missing"]
