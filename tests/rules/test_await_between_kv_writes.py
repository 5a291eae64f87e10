"""await-between-kv-writes: awaited put/delete in a row on one path."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._snapshot import Snapshots, check_case, expect_file, fixture_cases
from tests.rules._sql_support import (
    EXAMPLES,
    FIXTURES,
    assert_settled,
    check_examples,
    copy_case,
    fix_all,
    flagged,
    marked,
    run,
)

RULE = "await-between-kv-writes"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_runs_of_awaited_writes_are_flagged_once_each(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    begin = min(findings, key=lambda f: f.span.start)
    assert len(begin.related) == 2  # the two other puts of begin()


def test_fix_merges_consecutive_puts_and_drops_awaits_otherwise(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, model = run(RULE, root)
    fixes = {f.data["statements"][0]: fixes_for(f, model)[0] for f in findings}
    ids = sorted(fix.fix_id for fix in fixes.values())
    assert ids == [
        "await-between-kv-writes.drop-awaits",
        "await-between-kv-writes.single-put",
        "await-between-kv-writes.single-put",
    ]
    assert all(not fix.is_safe for fix in fixes.values())
    drop = next(f for f in fixes.values() if f.fix_id.endswith("drop-awaits"))
    assert "Error propagation" in drop.review
    assert fix_all(RULE, root) == 0
    assert fix_all(RULE, root, unsafe=True) == 3
    expect_file((root / "src" / "upload.ts").read_text(), FIXTURES / RULE / "after/src/upload.ts")
    assert run(RULE, root)[0] == []
    assert_settled(RULE, root, unsafe=True)


def test_comment_line_between_writes_or_duplicate_keys_keep_separate_puts(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    upload = root / "src" / "upload.ts"
    upload.write_text(
        upload.read_text()
        .replace(
            '    await this.ctx.storage.put("size", size);\n',
            '    // the size, as announced\n    await this.ctx.storage.put("size", size);\n',
        )
        .replace('put<Part>("last-part", part)', "put<Part>(`part:${index}`, part)")
    )
    fix_all(RULE, root, unsafe=True)
    text = upload.read_text()
    assert '    this.ctx.storage.put("name", name); // flagged\n' in text
    assert '    // the size, as announced\n    this.ctx.storage.put("size", size);\n' in text
    assert '    await this.ctx.storage.put("started-at", Date.now());\n' in text
    # computed keys may collide at run time: merged, the later value wins, as before
    assert "[`part:${index}`]: part, // flagged\n      [`part:${index}`]: part,\n" in text
    assert run(RULE, root)[0] == []


def test_export_job_alarm_writes_on_different_paths_are_quiet() -> None:
    findings, _ = run(RULE, EXAMPLES)
    assert not [f for f in findings if f.span.path.name == "export-job.ts"]


def test_examples_report_nothing() -> None:
    check_examples(RULE)
