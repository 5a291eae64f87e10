"""Fake rules and fix builders for testing the harden machinery independently of real fixes.

A fake rule reports every occurrence of a marker comment (`/*grow*/`, …) in the project's
TypeScript; its builder does whatever the test asks with that span. The planner is pointed at
these rules only, so real rules and builders do not interfere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import durable_harden.codeactions as codeactions
import durable_harden.codeactions.harden.plan as plan_mod
from durable_harden.analyzers.analysis import run_rules as real_run_rules
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions.fix import Edit, Fix, NewFile, Safety

DOCS = RuleDocs("fake", "fake", "fake", (), no_fix="fake")

WRANGLER = """{
  "name": "fake-project",
  "main": "src/index.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "COUNTER", "class_name": "Counter" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Counter"] }]
}
"""

PACKAGE = """{
  "name": "fake-project",
  "private": true,
  "type": "module",
  "devDependencies": {
    "typescript": "5.9.3",
    "wrangler": "4.86.0"
  }
}
"""

COUNTER = """import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async fetch(request: Request): Promise<Response> {
    /*grow*/ const n = 1;
    /*index*/ const m = 2;
    return new Response(String(n + m));
  }
}
"""

INDEX = """export { Counter } from "./counter";

export default {
  async fetch(): Promise<Response> {
    return new Response("ok");
  },
};
"""


def make_project(root: Path, counter: str = COUNTER) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(WRANGLER)
    (root / "package.json").write_text(PACKAGE)
    (root / "src" / "counter.ts").write_text(counter)
    (root / "src" / "index.ts").write_text(INDEX)
    return root


def marker_rule(rule_id: str, marker: str, severity: Severity = Severity.WARNING) -> Rule:
    pattern = re.compile(re.escape(marker).encode())

    def check(model: ProjectModel) -> Iterator[Finding]:
        for file in model.files:
            for match in pattern.finditer(file.data):
                yield Finding(
                    rule_id,
                    f"marker {marker}",
                    Span(file.path, match.start(), match.end()),
                    severity,
                    data={"class": "Counter"} if b"class Counter" in file.data else {},
                )

    return Rule(rule_id, f"fake {rule_id}", severity, DOCS, check)


Builder = Callable[[Finding, ProjectModel], list[Fix]]


def replace_with(text: str, safety: Safety = Safety.SAFE, review: str = "") -> Builder:
    def build(finding: Finding, model: ProjectModel) -> list[Fix]:
        span = finding.span
        return [
            Fix(
                f"{finding.rule_id}:{span.start}",
                f"replace with {text}",
                safety,
                [Edit(span.path, span.start, span.end, text)],
                review=review,
            )
        ]

    return build


class Fakes:
    """Register fake rules and builders for one test (undone by monkeypatch)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rules: list[Rule] = []
        self.builders: dict[str, list[Builder]] = {}
        self.calls: list[str] = []

        def run_rules(model, settings, reported=None, rules=None):  # type: ignore[no-untyped-def]
            return real_run_rules(model, settings, reported, rules=self.rules)

        monkeypatch.setattr(plan_mod, "run_rules", run_rules)
        monkeypatch.setattr(codeactions, "builders", lambda: self.builders)

    def rule(self, rule_id: str, marker: str, builder: Builder | None = None, **kw: object) -> None:
        self.rules.append(marker_rule(rule_id, marker, **kw))  # type: ignore[arg-type]
        if builder is not None:
            self.builders.setdefault(rule_id, []).append(builder)

    def builder(self, rule_id: str, builder: Builder) -> None:
        self.builders.setdefault(rule_id, []).append(builder)


def new_file(path: str, content: str) -> Builder:
    def build(finding: Finding, model: ProjectModel) -> list[Fix]:
        span = finding.span
        root = model.configs[0].root
        return [
            Fix(
                f"{finding.rule_id}:file",
                f"create {path}",
                Safety.SAFE,
                [Edit(span.path, span.start, span.end, "/*done*/")],
                creates=[NewFile(root / path, content)],
            )
        ]

    return build


def syntax_errors(path: Path, data: bytes) -> int:
    """ERROR and MISSING nodes of a TypeScript file."""
    from durable_harden.analyzers.source import parse_source
    from durable_harden.analyzers.tsutil import walk

    root = parse_source(path, data).root
    return sum(1 for n in walk(root) if n.type == "ERROR" or n.is_missing)


def fix_all_on_disk(root: Path, rules: list[str], unsafe: bool) -> int:
    """Fix-all of the selected rules to a fixed point with the project's own loop (the planner
    behind `check --fix`), written to disk. Asserts the loop settled, rolled nothing back for
    breaking a file, and added no ERROR node to a TypeScript file. Returns how many findings
    the applied fixes resolved (0: nothing to do)."""
    from durable_harden.analyzers.analysis import Settings
    from durable_harden.codeactions.harden.plan import BREAKS_FILE, plan_workspace

    plan = plan_workspace([root], unsafe=unsafe, settings=Settings(select=rules), rules=rules)
    broke = [(lo.finding.rule_id, lo.detail) for lo in plan.leftovers if lo.status == BREAKS_FILE]
    assert not broke, broke
    assert plan.converged, f"fix-all did not settle: {sorted(rules)}"
    changes = plan.changes()
    for path, (before, data) in changes.items():
        if path.suffix == ".ts":
            assert syntax_errors(path, data) <= syntax_errors(path, before or b""), path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return sum(1 + len(a.merged) for a in plan.applied)
