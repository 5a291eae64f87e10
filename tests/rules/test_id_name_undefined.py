"""id-name-undefined: ctx.id.name read where some caller reaches the object without a name."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import (
    fix_all,
    fixture,
    flagged,
    marked,
    no_new_syntax_errors,
    run,
    snapshot,
    text_of,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "id-name-undefined"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_reads_are_reported_when_new_unique_id_or_id_from_string_reach_the_class(
    tmp_path: Path,
) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    # `?? fallback` and `|| fallback` reads are already defaulted
    assert flagged(findings, root) == marked(root)
    assert sorted(text_of(f) for f in findings) == ["ctx.id.name", "this.ctx.id.name"]
    assert {f.data["fallback"] for f in findings} == {"ctx.id.toString()", "this.ctx.id.toString()"}
    assert findings[0].data["methods"] == ["idFromString()", "newUniqueId()"]
    assert len(findings[0].related) == 2


def test_only_named_callers_is_fine(tmp_path: Path) -> None:
    root = fixture(RULE, "named-only", tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_unnamed_caller_inside_another_durable_object(tmp_path: Path) -> None:
    root = fixture(RULE, "named-only", tmp_path)
    index = root / "src" / "index.ts"
    index.write_text(
        index.read_text()
        + """
export class Scheduler extends DurableObject<{ JOBS: DurableObjectNamespace<Job> }> {
  async spawn(): Promise<string> {
    return this.env.JOBS.get(this.env.JOBS.newUniqueId()).run();
  }
}
"""
    )
    findings, _ = run(RULE, root)
    assert [text_of(f) for f in findings] == ["this.ctx.id.name"]


def test_examples_export_job_is_reported() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "rate-limiter"
    findings, _ = run(RULE, examples)
    assert [(f.data["class"], text_of(f)) for f in findings] == [("ExportJob", "this.ctx.id.name")]


# -- the fix ---------------------------------------------------------------------------------


def test_fix_defaults_each_read_to_the_hex_id(tmp_path: Path) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    before = snapshot(root)
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert not fix.is_safe
    assert "toString()" in fix.title and fix.review
    assert fix_all(RULE, root) == 0  # unsafe: not applied by a plain fix-all
    assert fix_all(RULE, root, unsafe=True) == 2
    assert fix_all(RULE, root, unsafe=True) == 0  # idempotent
    no_new_syntax_errors(before, root)
    text = (root / "src" / "index.ts").read_text()
    assert 'console.log("job", ctx.id.name ?? ctx.id.toString()); // flagged' in text
    assert "const key = `jobs/${this.ctx.id.name ?? this.ctx.id.toString()}.json`;" in text


def test_fix_parenthesises_inside_a_larger_expression(tmp_path: Path) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    index = root / "src" / "index.ts"
    index.write_text(
        index.read_text().replace(
            "const key = `jobs/${this.ctx.id.name}.json`; // flagged",
            'const key = "jobs/" + this.ctx.id.name + ".json"; // flagged',
        )
    )
    assert fix_all(RULE, root, unsafe=True) == 2
    assert 'const key = "jobs/" + (this.ctx.id.name ?? this.ctx.id.toString()) + ".json";' in (
        index.read_text()
    )
