#!/usr/bin/env python3
"""Scaffold a new rule: its detection module, its fix module, its test file and its fixtures.

    python3 scripts/add_rule.py my-rule-id --title "What is wrong, in a few words" \
        [--severity warning] [--no-fix] [--root PATH]

Creates (and refuses to overwrite):
    analyzers/rules/<rule_id>.py        RULE: id, title, severity, docs (what, why, example;
                                        with --no-fix also why there is none), check(),
                                        messages (the message ids)
    codeactions/<rule_id>.py            the fix builder and SPEC with FIX_DOCS: each fix, its
                                        safety and why (unless --no-fix)
    tests/rules/test_<rule_id>.py       marker test, snapshot test, examples test
    tests/fixtures/<rule-id>/flagged.ts lines the rule must report end in `// flagged`
    tests/fixtures/<rule-id>/clean.ts   code the rule must leave alone
and regenerates docs/rules/ (python -m durable_harden.server.ruledocs). Nothing is registered
by hand: the rule and fix registries discover the modules.

The new tests fail until the rule is written: fill in check() until the `// flagged` lines are
exactly what it reports, write the fix, then record the snapshots and review them:

    python3 -m pytest tests/rules/test_<rule_id>.py --snapshot-update

--root writes into another copy of the repository (the scaffold's own test uses it).
See docs/contributing.md.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SEVERITIES = ("error", "warning", "info", "hint")

RULE_TEMPLATE = '''"""{rule_id}: {title}."""

from __future__ import annotations

from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_RULES

DOCS = RuleDocs(
    what="""
TODO: what the rule reports, precisely enough that a reader can predict each finding.
""",
    why="""
TODO: what goes wrong in production, with the platform fact behind it (cite the
Cloudflare documentation page that states it in `references`).
""",
    example="""
```ts
// TODO: a reported line, then the fixed one
```
""",
    references=(f"{{REF_RULES}}",),{no_fix}
)


def check(model: ProjectModel) -> Iterator[Finding]:
    """TODO: for each problem in model.classes (cls.node, cls.methods, cls.aliases),
    model.configs or model.files, yield RULE.finding("todo", "message",
    node_span(cls.file, node), data={{...}}, state=...) (node_span is in
    analyzers/rules/_common.py). The first argument is the message id: one key of RULE.messages
    per distinct message. `data`: plain JSON facts (they travel in the LSP diagnostic); `state`:
    a small frozen dataclass of this module with the nodes, statements or class the fix needs
    (codeactions reads it with `state_of`)."""
    yield from ()


RULE = Rule(
    id="{rule_id}",
    title="{title}",
    severity=Severity.{severity},
    docs=DOCS,
    check=check,
    # message id (kebab-case, stable) -> what that message says; shown as `{rule_id}/<id>`
    # in docs, JSON (`message_id`), SARIF (`message.id`) and LSP Diagnostic.data
    messages={{"todo": "TODO: what this message reports"}},
)
'''

NO_FIX = '''
    no_fix="""
TODO: why no fix can be written automatically (the decision only a human can make).
""",'''

FIX_TEMPLATE = '''"""Fix for {rule_id}: TODO say what the fix does."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions.fix import CannotFix, Fix
from durable_harden.codeactions.spec import TIER_OTHER, UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    """The fixes offered for one finding: byte-offset Edits into the analysed files, safety
    SAFE only when the result needs no review (see docs/contributing.md). Raise CannotFix with
    the reason when no correct fix can be built here (fixes_for logs it and offers nothing)."""
    # TODO: state = state_of(finding, <the rule module's state class>) (codeactions/fix.py):
    #   the nodes the rule found, never found again from finding.data; then
    #   return [Fix(fix_id="{rule_id}.<what>", title=..., safety=Safety.UNSAFE,
    #   edits=[Edit(path, start, end, new_text)], review="what to check")]
    raise CannotFix("the {rule_id} fix is not written yet")


# The fix half of the rule's docs page: each fix the builder offers, the safety levels it
# builds it with (SAFE, UNSAFE or SAFE_OR_UNSAFE; every Fix built on the fixtures must have one
# of them) and why, what a reviewer checks, where no fix is offered, and the sources.
FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "TODO: the fix's name",
            UNSAFE,
            """
TODO: what the fix rewrites, and when it is offered.
""",
            why="""
TODO: why it has that safety (safe: the program's meaning is kept; unsafe: what changes).
""",
        ),
    ),
    review="""
TODO: what a reviewer must check before accepting it.
""",
    not_offered="""
TODO: where the rule reports without a fix, and why.
""",
)


# tier: the harden order (codeactions/spec.py); label: what harden calls the applied pattern;
# test_case: the case harden generates for it (codeactions/harden/generated_tests.py)
SPEC = FixSpec("{rule_id}", build, tier=TIER_OTHER, docs=FIX_DOCS)
'''

TEST_TEMPLATE = '''"""{rule_id}: {title}."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules._hibernation_support import check_marked, copy_fixture, run
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "{rule_id}"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    findings = check_marked(RULE, "flagged.ts", tmp_path)
    # which message each finding is: its message id (RULE.messages), not a piece of its text
    assert {{f.message_id for f in findings}} == {{"todo"}}


def test_correct_code_is_quiet(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    assert run(RULE, root)[0] == []
'''

FLAGGED_TEMPLATE = """import {{ DurableObject }} from "cloudflare:workers";

// {rule_id}: every line the rule must report ends in `// flagged`.
export class Flagged extends DurableObject<unknown> {{
  async run(): Promise<void> {{
    // TODO: replace with the code the rule reports
    await this.ctx.storage.put("key", "value"); // flagged
  }}
}}
"""

CLEAN_TEMPLATE = """import {{ DurableObject }} from "cloudflare:workers";

// {rule_id}: correct code the rule must not report.
export class Clean extends DurableObject<unknown> {{
  async run(): Promise<void> {{
    await this.ctx.storage.put("key", "value");
  }}
}}
"""


def plan(root: Path, rule_id: str, title: str, severity: str, fix: bool) -> dict[Path, str]:
    module = rule_id.replace("-", "_")
    values = {
        "rule_id": rule_id,
        "title": title,
        "severity": severity.upper(),
        "no_fix": "" if fix else NO_FIX,
    }
    files = {
        root / "analyzers" / "rules" / f"{module}.py": RULE_TEMPLATE.format(**values),
        root / "tests" / "rules" / f"test_{module}.py": TEST_TEMPLATE.format(**values),
        root / "tests" / "fixtures" / rule_id / "flagged.ts": FLAGGED_TEMPLATE.format(**values),
        root / "tests" / "fixtures" / rule_id / "clean.ts": CLEAN_TEMPLATE.format(**values),
    }
    if fix:
        files[root / "codeactions" / f"{module}.py"] = FIX_TEMPLATE.format(**values)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/add_rule.py", description=__doc__.split("\n")[0])
    parser.add_argument("rule_id", help="kebab-case, e.g. sql-missing-index")
    parser.add_argument("--title", default="TODO: what is wrong, in a few words")
    parser.add_argument("--severity", choices=SEVERITIES, default="warning")
    parser.add_argument("--no-fix", action="store_true", help="advice only: no fix module")
    parser.add_argument("--root", type=Path, default=REPO, help="the repository to write into")
    parser.add_argument("--no-docs", action="store_true", help="do not regenerate docs/rules/")
    args = parser.parse_args(argv)

    rule_id: str = args.rule_id
    if not RULE_ID.match(rule_id):
        parser.error(f"{rule_id!r} is not a rule id: lowercase words joined by '-'")
    if '"' in args.title or "\\" in args.title or "\n" in args.title:
        parser.error("the title may not contain quotes, backslashes or newlines")
    root: Path = args.root.resolve()
    if not (root / "analyzers" / "rules" / "__init__.py").is_file():
        parser.error(f"{root} is not a durable-harden repository (no analyzers/rules/)")
    files = plan(root, rule_id, args.title, args.severity, not args.no_fix)
    taken = [p for p in files if p.exists()] + [
        p for p in [root / "tests" / "fixtures" / rule_id] if p.exists()
    ]
    if taken:
        names = ", ".join(str(p.relative_to(root)) for p in taken)
        print(f"error: {rule_id} exists already ({names}); nothing written", file=sys.stderr)
        return 1
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"created {path.relative_to(root)}")
    if not args.no_docs:
        env = {**os.environ, "PYTHONPATH": str(root)}
        proc = subprocess.run(
            [sys.executable, "-m", "durable_harden.server.ruledocs"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(f"error: regenerating docs/rules/ failed:\n{proc.stderr}", file=sys.stderr)
            return 1
        print(f"regenerated docs/rules/ (docs/rules/{rule_id}.md)")
    module = rule_id.replace("-", "_")
    print(
        "\nnext: make the `// flagged` lines of the fixture what check() reports, write the fix"
        " and add the rule to a fix property suite (tests/test_fix_properties_all.py),"
        f"\n  python3 -m pytest tests/rules/test_{module}.py"
        f"\n  python3 -m pytest tests/rules/test_{module}.py --snapshot-update   # then review"
        "\n  python -m durable_harden.server.ruledocs   # after editing the docs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
