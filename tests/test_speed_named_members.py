"""The whole-class rules declared by the members they read (incremental.NAMED_MEMBERS): after
edits elsewhere in the class their findings are reused (shifted) and equal a fresh analysis;
edits of a member read, of a name looked up, or of the class facts they read re-run them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.incremental import NAMED_MEMBERS, SCOPES, Rerun
from durable_harden.codeactions import fixes_for
from durable_harden.server.lsp.engine import OpenInput
from tests.test_speed_incremental import Session, _edit, _members_project

CLASS_FILE = """import { DurableObject } from "cloudflare:workers";

export class Members extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      await this.init();
      this.later();
    });
  }

  async init(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + 60_000);
  }

  async rearm(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + 1_000);
  }

  async nextDue(): Promise<number> {
    return (await this.ctx.storage.get<number>("due")) ?? 0;
  }

  async alarm(): Promise<void> {
    await this.ctx.storage.put("a", 1);
  }

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message === "ping") {
      ws.send("pong");
      return;
    }
    ws.send("echo");
  }

  async count(values: number[]): Promise<number> {
    let total = 0;
    for (const value of values) {
      total += value;
    }
    return total;
  }
}
"""


def _project(tmp_path: Path) -> tuple[Session, Path]:
    root, target = _members_project(tmp_path)
    target.write_text(CLASS_FILE)
    return Session(root, [target]), target


def test_named_member_rules_are_class_rules_with_reasons() -> None:
    for rule_id, named in NAMED_MEMBERS.items():
        assert SCOPES[rule_id].unit == "classes", rule_id
        assert named.reason, rule_id


EDITS = [
    # the members the constructor reaches are untouched: reused
    ("typing in a member not read", _edit(CLASS_FILE, "let total = 0;", "x"), True),
    ("a line above the class", "// head\n" + CLASS_FILE, True),
    ("a member added at the end", _edit(CLASS_FILE, "\n}\n", "\n  other() {}", after=False), True),
    ("typing in a setAlarm not reached", _edit(CLASS_FILE, "1_000", "0", after=True), True),
    # a member read, a name looked up, the class facts read: run again
    ("the reached setAlarm edited", _edit(CLASS_FILE, "60_000", "0", after=True), False),
    (
        "the unreached method now called",
        _edit(CLASS_FILE, "      this.later();\n", "      await this.rearm();\n", after=True),
        False,
    ),
    (
        "the missing method added",
        _edit(CLASS_FILE, "  async rearm()", "  later() { this.rearm(); }\n\n"),
        False,
    ),
    (
        "a guard in the reached method",
        CLASS_FILE.replace(
            "    await this.ctx.storage.setAlarm(Date.now() + 60_000);",
            "    if ((await this.ctx.storage.getAlarm()) === null)\n"
            "      await this.ctx.storage.setAlarm(Date.now() + 60_000);",
        ),
        False,
    ),
    (
        "the time read from storage",
        CLASS_FILE.replace("Date.now() + 60_000", "await this.nextDue()"),
        False,
    ),
    ("the ping answer edited", CLASS_FILE.replace('"pong"', '"pang"'), False),
    (
        "an auto response in the constructor",
        _edit(
            CLASS_FILE,
            "    super(ctx, env);\n",
            "    ctx.setWebSocketAutoResponse();\n",
            after=True,
        ),
        False,
    ),
    ("the class renamed", CLASS_FILE.replace("class Members", "class Renamed"), False),
    (
        "a field that adds a storage alias",
        _edit(CLASS_FILE, "  async init()", "  kv = this.ctx.storage;\n\n"),
        True,  # the alias changes no finding; the outline changed: run again (checked below)
    ),
]


@pytest.mark.parametrize("what,new_text,reused", EDITS, ids=[e[0] for e in EDITS])
def test_edits_match_a_fresh_analysis(
    tmp_path: Path, what: str, new_text: str, reused: bool
) -> None:
    s, target = _project(tmp_path)
    s.compare("opening")
    rules = s.engine.rules
    found = {f.rule_id for f in analyze_paths([s.root]).findings}
    assert set(NAMED_MEMBERS) <= found, found
    s.write(target, new_text.encode())
    hits, runs = rules.named_hits, rules.named_runs
    s.compare(what)
    if what == "a field that adds a storage alias":
        reused = False  # the outline (storage spellings) changed
    if reused:
        assert rules.named_hits - hits == len(NAMED_MEMBERS), what
        assert rules.named_runs == runs, what
    else:
        assert rules.named_runs - runs >= 1, what
    s.write(target, CLASS_FILE.encode())
    s.compare(f"undoing {what}")


def test_a_reused_finding_gets_the_fresh_fix(tmp_path: Path) -> None:
    s, target = _project(tmp_path)
    s.compare("opening")
    s.write(target, ("// a line above\n" + CLASS_FILE).encode())
    s.compare("a line above the class")
    inputs = {target: OpenInput(target, s.version, s.open[target], "source", Settings(), None)}
    analysis = s.engine.analyze(s.root, inputs)
    reference = analyze_paths([s.root])
    reused = [
        f
        for f in analysis.findings[target]
        if f.rule_id in NAMED_MEMBERS and isinstance(f.state, Rerun)
    ]
    assert reused, "the named-member rule's finding was reused"
    for finding in reused:
        fresh = next(
            f
            for f in reference.findings
            if f.rule_id == finding.rule_id and f.span == finding.span and f.data == finding.data
        )
        want = [(x.title, x.edits, x.creates) for x in fixes_for(fresh, reference.model)]
        got = [(x.title, x.edits, x.creates) for x in analysis.fixes_of(finding)]
        assert want, "the rule offers a fix here"
        assert got == want


@pytest.mark.parametrize("seed", [random.randrange(1 << 30)])
def test_random_edits_in_the_class(tmp_path: Path, seed: int) -> None:
    print(f"random named-member edits, seed {seed}")
    rng = random.Random(seed)
    s, target = _project(tmp_path)
    s.compare("opening")
    text = CLASS_FILE
    for step in range(20):
        at = rng.randrange(len(text))
        if rng.random() < 0.3:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + rng.choice("ab(){};.? \n") + text[at:]
        s.write(target, text.encode())
        s.compare(f"step {step}: a character at {at} (seed {seed})")
        if rng.random() < 0.3:
            text = CLASS_FILE
            s.write(target, text.encode())
            s.compare(f"step {step}: reverted (seed {seed})")


def test_a_failing_named_member_rule_is_reported_once_per_file(tmp_path: Path) -> None:
    """As one run over the file's classes reports it: one problem per analysis, not one per
    class run alone; nothing is kept, so the next analysis runs (and reports) it again."""
    from dataclasses import replace
    from typing import Any

    from durable_harden.analyzers.incremental import IncrementalRules
    from durable_harden.analyzers.rules import all_rules

    def boom(model: Any) -> Any:
        if model.classes:
            raise RuntimeError("boom")
        return iter(())

    by_id = {r.id: r for r in all_rules()}
    failing = [replace(by_id[i], check=boom) for i in sorted(NAMED_MEMBERS)]
    root, target = _members_project(tmp_path)
    two = CLASS_FILE + CLASS_FILE.split("\n", 2)[2].replace("class Members", "class Second")
    engine = IncrementalRules()
    for step in range(3):
        target.write_text(("// edit\n" * step) + two)
        model = analyze_paths([root]).model
        assert len([c for c in model.classes if c.file.path == target]) == 2
        before = len(model.problems)
        assert engine.findings(model, failing, [target]) == []
        messages = sorted(p.message for p in model.problems[before:])
        assert messages == sorted(
            f"internal error in rule {i}: RuntimeError: boom" for i in NAMED_MEMBERS
        ), step
