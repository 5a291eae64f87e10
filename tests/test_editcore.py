"""The edit core (codeactions/editcore.py): conflicts, provenance, the convergence guard, and
the fix-all selection, through the planner that `check --fix` and harden run."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.analyzers.findings import Finding, Severity, Span
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions.editcore import (
    DEFAULT_UNSAFE,
    Batch,
    conflict,
    select_fixes,
    why_not_alone,
)
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.harden.plan import (
    BREAKS_FILE,
    NOT_CONVERGED,
    REPEATS,
    plan_workspace,
)
from tests.harden_fakes import COUNTER, Fakes, make_project, replace_with

REEXPORT = 'export { Ledger } from "./ledger";\n'


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    return Fakes(monkeypatch)


def insert_line_after(text: str):  # type: ignore[no-untyped-def]
    """A builder that inserts `text` at the start of the line after the finding's line."""

    def build(finding: Finding, model: ProjectModel) -> list[Fix]:
        source = model.file(finding.span.path)
        assert source is not None
        data = source.data
        at = data.index(b"\n", finding.span.end) + 1
        return [
            Fix(
                f"{finding.rule_id}:{at}",
                "insert",
                Safety.SAFE,
                [Edit(finding.span.path, at, at, text)],
            )
        ]

    return build


def test_no_fix_inserts_next_to_a_syntax_error(fakes: Fakes, tmp_path: Path) -> None:
    """Issue 13 item 5: with a syntax error in the file, a fix inserted next to it is swallowed
    by the parser's error recovery, its finding stays, and every run inserted it again. The
    guard refuses edits inside or on a line of an ERROR region."""
    broken = COUNTER.replace(
        "export class Counter", "/*reexport*/\nconst broken = (;\nexport class Counter"
    )
    project = make_project(tmp_path / "proj", broken)
    fakes.rule("class-not-exported", "/*reexport*/", insert_line_after(REEXPORT))
    plan = plan_workspace([project])
    counter = (project / "src" / "counter.ts").resolve()
    assert REEXPORT not in plan.contents.get(counter, counter.read_bytes()).decode()
    assert [lo.status for lo in plan.leftovers] == [BREAKS_FILE]
    assert "syntax error" in plan.leftovers[0].detail
    assert not plan.applied


def test_the_same_insertion_for_the_same_finding_is_refused(fakes: Fakes, tmp_path: Path) -> None:
    """A fix whose finding is still there after it was applied, and that would insert the same
    text again, does not converge: inserted once, then left as not converged (not once per
    round up to the round limit)."""
    project = make_project(tmp_path / "proj")
    fakes.rule("class-not-exported", "/*grow*/", insert_line_after("// note\n"))
    plan = plan_workspace([project])
    counter = (project / "src" / "counter.ts").resolve()
    assert plan.contents[counter].decode().count("// note\n") == 1
    assert [(lo.status, lo.detail) for lo in plan.leftovers] == [(NOT_CONVERGED, REPEATS)]
    assert not plan.converged


def test_provenance_follows_each_fix_through_later_rounds(fakes: Fakes, tmp_path: Path) -> None:
    """Which fix wrote which bytes of the final file, recorded while the rounds were applied."""
    project = make_project(tmp_path / "proj")
    # two rules insert at one point: the second waits a round, and its edit moves the first's
    fakes.rule("unbounded-table-growth", "/*grow*/", replace_with("/*TTL*/"))
    fakes.rule("sql-missing-index", "/*index*/", replace_with("/*INDEXED-AND-LONGER*/"))
    fakes.rule("timer-blocks-hibernation", "/*TTL*/", replace_with("/*alarm*/"))
    plan = plan_workspace([project])
    counter = (project / "src" / "counter.ts").resolve()
    after = plan.contents[counter]
    regions = plan.provenance.of(counter)
    assert regions is not None
    written = sorted((after[r.start : r.end].decode(), r.owner.rule_id) for r in regions)  # type: ignore[attr-defined]
    assert ("/*INDEXED-AND-LONGER*/", "sql-missing-index") in written
    assert ("/*alarm*/", "timer-blocks-hibernation") in written
    assert {a.round for a in plan.applied} == {1, 2}


def _edit(start: int, end: int, text: str = "x") -> Edit:
    return Edit(Path("/f.ts"), start, end, text)


def test_conflicts() -> None:
    assert conflict(_edit(0, 4), _edit(2, 6), same_rule=True)  # ranges intersect
    assert conflict(_edit(3, 3), _edit(2, 6), same_rule=True)  # insertion inside a replacement
    assert conflict(_edit(3, 3, "a"), _edit(3, 3, "b"), same_rule=False)  # one point, two rules
    assert not conflict(_edit(3, 3, "a"), _edit(3, 3, "b"), same_rule=True)
    assert not conflict(_edit(0, 2), _edit(2, 4), same_rule=False)  # touching is fine
    assert not conflict(_edit(0, 2), _edit(0, 2), same_rule=False)  # identical edits merge


def test_fixes_sharing_an_isolation_key_wait_a_round(tmp_path: Path) -> None:
    path = tmp_path / "wrangler.jsonc"
    path.write_bytes(b"0123456789")
    finding = Finding("r", "m", Span(path, 0, 1), Severity.WARNING)
    batch = Batch(lambda p: p.read_bytes())
    first = Fix("a", "a", Safety.SAFE, [Edit(path, 9, 9, "A")], isolation="migrations:w")
    second = Fix("b", "b", Safety.SAFE, [Edit(path, 2, 2, "B")], isolation="migrations:w")
    other = Fix("c", "c", Safety.SAFE, [Edit(path, 4, 4, "C")])
    assert batch.why_not(first) is None
    batch.accept(finding, first)
    assert batch.why_not(second) == "another fix this round also changes migrations:w"
    assert batch.why_not(other) is None


def test_select_fixes_takes_one_fix_per_finding_and_skips_collisions(tmp_path: Path) -> None:
    path = tmp_path / "a.ts"
    path.write_bytes(b"0123456789")

    def finding(start: int) -> Finding:
        return Finding("r", "m", Span(path, start, start + 1), Severity.WARNING)

    fixes = {
        0: [Fix("a", "a", Safety.SAFE, [Edit(path, 0, 4, "A")])],
        2: [Fix("b", "b", Safety.SAFE, [Edit(path, 2, 6, "B")])],  # collides with a
        6: [
            Fix("u", "u", Safety.UNSAFE, [Edit(path, 6, 7, "U")]),
            Fix("s", "s", Safety.SAFE, [Edit(path, 7, 8, "S")]),
        ],
    }
    found = [finding(0), finding(2), finding(6)]
    edits = select_fixes(found, lambda f: fixes[f.span.start], lambda p: p.read_bytes())
    assert DEFAULT_UNSAFE is False
    assert [(e.start, e.new_text) for e in edits] == [(0, "A"), (7, "S")]
    unsafe = select_fixes(found, lambda f: fixes[f.span.start], lambda p: p.read_bytes(), True)
    assert [(e.start, e.new_text) for e in unsafe] == [(0, "A"), (6, "U")]
    batch = Batch(lambda p: p.read_bytes())
    assert batch.why_not(Fix("far", "far", Safety.SAFE, [Edit(path, 0, 99, "")])) is not None


def test_select_fixes_rolls_back_a_fix_that_breaks_the_file(tmp_path: Path) -> None:
    """The guard of the planner applies to fix-all: a fix that leaves the file unparsable is
    dropped alone, the others stay; `why_not_alone` (the server's check of a quick fix) says
    why."""
    path = tmp_path / "a.ts"
    path.write_bytes(b"const a = 1;\nconst b = 2;\n")

    def finding(start: int) -> Finding:
        return Finding("r", "m", Span(path, start, start + 1), Severity.WARNING)

    good = Fix("good", "good", Safety.SAFE, [Edit(path, 10, 11, "3")])
    broken = Fix("bad", "bad", Safety.SAFE, [Edit(path, 23, 24, "{{")])
    fixes = {10: [good], 23: [broken]}
    found = [finding(10), finding(23)]
    edits = select_fixes(found, lambda f: fixes[f.span.start], lambda p: p.read_bytes())
    assert [(e.start, e.new_text) for e in edits] == [(10, "3")]
    assert why_not_alone(found[0], good, lambda p: p.read_bytes()) is None
    assert "would not parse" in (why_not_alone(found[1], broken, lambda p: p.read_bytes()) or "")
    outside = Fix("far", "far", Safety.SAFE, [Edit(path, 0, 99, "")])
    assert "leaves a.ts" in (why_not_alone(found[0], outside, lambda p: p.read_bytes()) or "")


def test_select_fixes_takes_findings_in_priority_order(tmp_path: Path) -> None:
    """Two conflicting fixes: the one of the higher harden tier wins, wherever it lies in the
    file (the planner's `finding_order`), not the first by position."""
    path = tmp_path / "a.ts"
    path.write_bytes(b"let a = 1;\nlet b = 2;\n")
    timer = Finding("timer-blocks-hibernation", "m", Span(path, 0, 1), Severity.WARNING)
    growth = Finding("unbounded-table-growth", "m", Span(path, 5, 6), Severity.WARNING)
    fixes = {
        0: [Fix("t", "t", Safety.SAFE, [Edit(path, 11, 11, "// T\n")], rule_id=timer.rule_id)],
        5: [Fix("g", "g", Safety.SAFE, [Edit(path, 11, 11, "// G\n")], rule_id=growth.rule_id)],
    }
    edits = select_fixes([timer, growth], lambda f: fixes[f.span.start], lambda p: p.read_bytes())
    assert [e.new_text for e in edits] == ["// G\n"]
