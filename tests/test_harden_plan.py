"""The workspace planner, with fake rules and builders (tests/harden_fakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.analyzers.findings import Finding, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.harden import harden
from durable_harden.codeactions.harden.plan import (
    BREAKS_FILE,
    NO_FIX,
    NOT_CONVERGED,
    TIER_CORRECTNESS,
    TIER_INDEXES,
    UNSAFE_NOT_REQUESTED,
    Cancelled,
    finding_order,
    plan_workspace,
    tier_of,
)
from tests.harden_fakes import Fakes, make_project, new_file, replace_with


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    return Fakes(monkeypatch)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def counter(plan_or_root: Path) -> str:
    return (plan_or_root / "src" / "counter.ts").read_text()


def after(plan, root: Path, name: str = "src/counter.ts") -> str:  # type: ignore[no-untyped-def]
    path = (root / name).resolve()
    return plan.contents.get(path, path.read_bytes()).decode()


def test_priority_tiers() -> None:
    assert tier_of("unbounded-table-growth") == TIER_CORRECTNESS
    assert tier_of("sql-missing-index") == TIER_INDEXES
    assert tier_of("timer-blocks-hibernation") < tier_of("sql-missing-index")
    assert tier_of("sql-missing-index") < tier_of("rollout-unsafe")
    # an unknown rule: errors count as correctness, the rest after indexes
    assert tier_of("new-rule", Severity.ERROR) == TIER_CORRECTNESS
    assert tier_of("new-rule", Severity.INFO) > TIER_INDEXES


def test_applies_in_priority_order_and_reaches_a_fixed_point(fakes: Fakes, project: Path) -> None:
    fakes.rule("sql-missing-index", "/*index*/", replace_with("/*indexed*/"))
    fakes.rule("unbounded-table-growth", "/*grow*/", replace_with("/*ttl*/"))
    plan = plan_workspace([project])
    assert [a.rule_id for a in plan.applied] == ["unbounded-table-growth", "sql-missing-index"]
    assert [a.priority for a in plan.applied] == ["data growth and correctness", "indexes"]
    assert all(a.class_name == "Counter" for a in plan.applied)
    text = after(plan, project)
    assert "/*ttl*/ const n = 1;" in text and "/*indexed*/ const m = 2;" in text
    assert plan.converged and plan.leftovers == []
    assert counter(project).count("/*grow*/") == 1, "a plan writes nothing"

    # its own output: nothing to do
    for path, data in plan.contents.items():
        path.write_bytes(data)
    again = plan_workspace([project])
    assert again.applied == [] and not again.has_changes


def test_same_input_gives_byte_identical_output(fakes: Fakes, project: Path) -> None:
    fakes.rule("unbounded-table-growth", "/*grow*/", replace_with("/*ttl*/"))
    fakes.rule("sql-missing-index", "/*index*/", replace_with("/*indexed*/"))
    first = harden([project])
    second = harden([project])
    assert first.changes() == second.changes()
    assert first.digest() == second.digest()


def test_identical_edits_from_two_findings_are_merged(fakes: Fakes, project: Path) -> None:
    # two rules report the same marker and their fixes make the very same edit
    fakes.rule("unbounded-table-growth", "/*grow*/", replace_with("/*ttl*/"))
    fakes.rule("sql-missing-index", "/*grow*/", replace_with("/*ttl*/"))
    plan = plan_workspace([project])
    assert len(plan.applied) == 1
    assert [f.rule_id for f in plan.applied[0].merged] == ["sql-missing-index"]
    assert after(plan, project).count("/*ttl*/") == 1


def test_overlapping_fix_keeps_the_higher_priority_one(fakes: Fakes, project: Path) -> None:
    # the index fix wants to rewrite the whole line that the TTL fix edits too
    def whole_line(finding: Finding, model: ProjectModel) -> list[Fix]:
        data = finding.span.path.read_bytes()
        start = data.index(b"/*grow*/")
        end = data.index(b"\n", start)
        return [
            Fix("line", "rewrite line", Safety.SAFE, [Edit(finding.span.path, start, end, "x;")])
        ]

    fakes.rule("unbounded-table-growth", "/*grow*/", replace_with("/*ttl*/"))
    fakes.rule("sql-missing-index", "/*index*/", whole_line)
    plan = plan_workspace([project], max_rounds=1)
    text = after(plan, project)
    assert "/*ttl*/ const n = 1;" in text  # the higher-priority fix, whole
    assert [a.rule_id for a in plan.applied] == ["unbounded-table-growth"]
    left = {lo.finding.rule_id: lo for lo in plan.leftovers}
    assert left["sql-missing-index"].status == NOT_CONVERGED
    assert not plan.converged


def test_deferred_fix_is_rebuilt_next_round_against_the_new_code(
    fakes: Fakes, project: Path
) -> None:
    # both rules insert a method at the same point; the second builder merges into it next round
    def add_alarm(body: str):  # type: ignore[no-untyped-def]
        def build(finding: Finding, model: ProjectModel) -> list[Fix]:
            path = finding.span.path
            data = model.file(path).data  # type: ignore[union-attr]
            edits = [Edit(path, finding.span.start, finding.span.end, "/*done*/")]
            if b"async alarm()" in data:
                at = data.index(b"async alarm() {") + len(b"async alarm() {")
                edits.append(Edit(path, at, at, f"\n    {body}"))
            else:
                at = data.rindex(b"}", 0, data.rindex(b"}"))  # before the class's closing brace
                at = data.rindex(b"\n", 0, data.rindex(b"}")) + 1
                edits.append(Edit(path, at, at, f"\n  async alarm() {{\n    {body}\n  }}\n"))
            return [Fix(finding.rule_id, "alarm", Safety.SAFE, edits)]

        return build

    fakes.rule("unbounded-table-growth", "/*grow*/", add_alarm("this.deleteExpired();"))
    fakes.rule("timer-blocks-hibernation", "/*index*/", add_alarm("this.presence();"))
    plan = plan_workspace([project])
    text = after(plan, project)
    assert text.count("async alarm()") == 1
    assert "this.deleteExpired();" in text and "this.presence();" in text
    assert [a.round for a in plan.applied] == [1, 2]
    assert plan.converged


def test_fix_that_breaks_parsing_is_rolled_back_alone(fakes: Fakes, project: Path) -> None:
    fakes.rule("unbounded-table-growth", "/*grow*/", replace_with("/*ttl*/"))
    fakes.rule("sql-missing-index", "/*index*/", replace_with("if (( {"))
    plan = plan_workspace([project])
    text = after(plan, project)
    assert "/*ttl*/" in text and "if ((" not in text
    left = {lo.finding.rule_id: lo for lo in plan.leftovers}
    assert left["sql-missing-index"].status == BREAKS_FILE
    assert "would not parse" in left["sql-missing-index"].detail


def test_fix_that_duplicates_a_member_is_rolled_back(fakes: Fakes, project: Path) -> None:
    def method_at(where: bytes, after_it: bool):  # type: ignore[no-untyped-def]
        def build(finding: Finding, model: ProjectModel) -> list[Fix]:
            path = finding.span.path
            data = model.file(path).data  # type: ignore[union-attr]
            at = data.index(where) + (len(where) if after_it else 0)
            return [
                Fix(
                    finding.rule_id,
                    "add alarm",
                    Safety.SAFE,
                    [
                        Edit(path, finding.span.start, finding.span.end, "/*x*/"),
                        Edit(path, at, at, "\n  async alarm() {}\n"),
                    ],
                )
            ]

        return build

    fakes.rule("unbounded-table-growth", "/*grow*/", method_at(b"extends DurableObject {", True))
    fakes.rule("sql-missing-index", "/*index*/", method_at(b"  async fetch", False))
    plan = plan_workspace([project])
    text = after(plan, project)
    assert text.count("async alarm()") == 1
    left = {lo.finding.rule_id: lo for lo in plan.leftovers}
    assert left["sql-missing-index"].status == BREAKS_FILE
    assert "twice" in left["sql-missing-index"].detail


def test_unsafe_fixes_are_listed_not_applied_unless_asked(fakes: Fakes, project: Path) -> None:
    fakes.rule(
        "timer-blocks-hibernation",
        "/*grow*/",
        replace_with("/*alarm*/", Safety.UNSAFE, review="check the timer's state"),
    )
    fakes.rule("sql-missing-index", "/*index*/")  # no builder at all
    safe = plan_workspace([project])
    assert not safe.has_changes
    left = {lo.finding.rule_id: lo for lo in safe.leftovers}
    assert left["timer-blocks-hibernation"].status == UNSAFE_NOT_REQUESTED
    assert left["timer-blocks-hibernation"].detail == "check the timer's state"
    assert left["sql-missing-index"].status == NO_FIX

    unsafe = plan_workspace([project], unsafe=True)
    assert [a.rule_id for a in unsafe.applied] == ["timer-blocks-hibernation"]
    assert "/*alarm*/" in after(unsafe, project)


def test_first_allowed_fix_of_a_finding_is_used(fakes: Fakes, project: Path) -> None:
    def two(finding: Finding, model: ProjectModel) -> list[Fix]:
        s = finding.span
        return [
            Fix("full", "full", Safety.UNSAFE, [Edit(s.path, s.start, s.end, "/*full*/")]),
            Fix("part", "part", Safety.SAFE, [Edit(s.path, s.start, s.end, "/*part*/")]),
        ]

    fakes.rule("websocket-not-hibernatable", "/*grow*/", two)
    assert "/*part*/" in after(plan_workspace([project]), project)
    assert "/*full*/" in after(plan_workspace([project], unsafe=True), project)


def test_created_files_are_merged_or_refused(fakes: Fakes, project: Path) -> None:
    fakes.rule("rollout-unsafe", "/*grow*/", new_file("scripts/deploy-gradual.sh", "#!/bin/sh\n"))
    fakes.rule("rollout-unsafe", "/*index*/", new_file("scripts/deploy-gradual.sh", "#!/bin/sh\n"))
    plan = plan_workspace([project])
    script = (project / "scripts" / "deploy-gradual.sh").resolve()
    assert plan.created == [script]
    assert plan.contents[script] == b"#!/bin/sh\n"
    assert len(plan.applied) == 2


def test_existing_file_with_other_content_is_not_overwritten(fakes: Fakes, project: Path) -> None:
    (project / "scripts").mkdir()
    (project / "scripts" / "deploy-gradual.sh").write_text("#!/bin/sh\necho mine\n")
    fakes.rule("rollout-unsafe", "/*grow*/", new_file("scripts/deploy-gradual.sh", "#!/bin/sh\n"))
    plan = plan_workspace([project])
    assert not plan.has_changes
    assert "already exists" in plan.leftovers[0].detail


def test_editor_buffers_win_over_the_disk(fakes: Fakes, project: Path) -> None:
    fakes.rule("unbounded-table-growth", "/*grow*/", replace_with("/*ttl*/"))
    path = (project / "src" / "counter.ts").resolve()
    buffer = path.read_text().replace("const n = 1;", "const n = 41;").encode()
    plan = plan_workspace([project], overlays={path: buffer})
    assert plan.original[path] == buffer
    assert b"/*ttl*/ const n = 41;" in plan.contents[path]


def test_cancellation_raises_before_anything_is_planned(fakes: Fakes, project: Path) -> None:
    fakes.rule("unbounded-table-growth", "/*grow*/", replace_with("/*ttl*/"))
    before = counter(project)
    with pytest.raises(Cancelled):
        harden([project], cancelled=lambda: True)
    assert counter(project) == before


def test_a_failing_builder_offers_nothing(fakes: Fakes, project: Path) -> None:
    def boom(finding: Finding, model: ProjectModel) -> list[Fix]:
        raise RuntimeError("bug in a builder")

    fakes.rule("unbounded-table-growth", "/*grow*/", boom)
    plan = plan_workspace([project])
    assert not plan.has_changes
    assert plan.leftovers[0].status == NO_FIX


def test_findings_are_ordered_by_tier_then_severity_then_place(tmp_path: Path) -> None:
    from durable_harden.analyzers.findings import Span

    a = Finding("sql-missing-index", "", Span(tmp_path / "a.ts", 5, 6), Severity.INFO)
    b = Finding("timer-blocks-hibernation", "", Span(tmp_path / "z.ts", 9, 9), Severity.WARNING)
    c = Finding("unbounded-table-growth", "", Span(tmp_path / "z.ts", 1, 2), Severity.WARNING)
    assert sorted([a, b, c], key=finding_order) == [c, b, a]


def test_minimal_edits_rebuild_the_new_bytes() -> None:
    from durable_harden.codeactions.editcore import minimal_edits

    before = b"a\nb\nc\nd\n"
    after = b"a\nB\nc\nd\ne\n"
    hunks = minimal_edits(before, after)
    assert hunks == [(2, 4, "B\n"), (8, 8, "e\n")]
    out = before
    for start, end, text in reversed(hunks):
        out = out[:start] + text.encode() + out[end:]
    assert out == after
