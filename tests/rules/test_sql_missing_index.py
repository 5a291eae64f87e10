"""sql-missing-index: SQLite's planner says SCAN / temp B-tree / automatic index."""

from __future__ import annotations

from pathlib import Path

from tests.rules._sql_support import check_examples, copy_case, flagged, marked, run, span_text

RULE = "sql-missing-index"


def test_scans_sorts_and_automatic_indexes_are_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    # equality column first, then the ORDER BY column
    room = next(f for f in findings if f.data["eq"] == ["room"])
    assert room.data["columns"] == ["room", "created_at"]
    assert room.data["order"] == ["created_at"]
    assert any(r.span.path.name == "schema.ts" for r in room.related)


def test_alias_is_resolved_and_range_column_goes_last(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    aliased = next(f for f in findings if span_text(f) == "FROM messages m")
    assert aliased.data["table"] == "messages"
    assert aliased.data["columns"] == ["author", "created_at"]
    assert aliased.data["range"] == "created_at"


def test_composite_primary_key_trailing_column_is_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    seats = next(f for f in findings if f.data["table"] == "seats")
    assert seats.data["columns"] == ["user_id"]


def test_join_reports_the_inner_table_not_the_outer_loop(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    joined = [
        f for f in findings if f.span.path.name == "notes-agent.ts" and "JOIN" in span_text(f)
    ]
    assert len(joined) == 1 and joined[0].data["table"] == "users"
    assert joined[0].data["columns"] == ["name"]
    assert not any(span_text(f) == "FROM notes n" for f in findings)


def test_matching_index_pk_rowid_walk_and_unindexable_filters_are_quiet(tmp_path: Path) -> None:
    root = copy_case(RULE, "clean", tmp_path)
    findings, model = run(RULE, root)
    assert findings == []
    # the queries are really there (the Agents SDK one too)
    selects = [s for s in model.statements if s.kind == "SELECT"]
    assert len(selects) >= 8
    assert any(s.tagged for s in selects)


def test_examples_report_exactly_the_planted_lines() -> None:
    check_examples(RULE)
