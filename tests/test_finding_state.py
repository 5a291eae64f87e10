"""`Finding.state`: the rule's typed detection state handed to its fix builder.

Detection (`analyzers/rules/<id>.py`) puts the nodes, statements, class or config it found into a
small frozen dataclass on the finding; the builder (`codeactions/<id>.py`) reads them from there
and never finds them a second time from `finding.data`. A finding without that state (rebuilt
from JSON, made by hand) gets no fix, and the builder says why (`CannotFix`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.findings import Finding, Severity, Span
from durable_harden.codeactions import CannotFix, fixes_for, spec_for
from durable_harden.codeactions.editcore import fix_key
from durable_harden.codeactions.fix import state_of

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CODEACTIONS = ROOT / "codeactions"


# fixtures whose findings get no fix where they lie: the config is committed in this repository,
# so the fix (which only rewrites a migration never deployed) declines; tests/rules/ builds a
# fresh git history for those fixes
NO_FIX_IN_PLACE = {"kv-backed-class", "migration-history-edited"}


def _stateful_rules() -> set[str]:
    """Rules whose fix module reads the detection state."""
    return {
        path.stem.replace("_", "-")
        for path in CODEACTIONS.glob("*.py")
        if not path.name.startswith("_") and "state_of(finding" in path.read_text()
    }


def _analysed(rule_dir: Path):
    inputs = [p for p in sorted(rule_dir.iterdir()) if p.name != "snapshots"]
    return analyze_paths(inputs, Settings(unsafe_fixes=True))


def test_state_is_not_compared_printed_or_serialised(tmp_path: Path) -> None:
    span = Span(tmp_path / "a.ts", 1, 2)
    a = Finding("r", "m", span, Severity.WARNING, data={"k": 1}, state=object())
    b = Finding("r", "m", span, Severity.WARNING, data={"k": 1}, state=None)
    assert a == b
    assert "state=" not in repr(a)
    assert json.loads(json.dumps(a.data)) == {"k": 1}


def test_state_of_names_what_is_missing(tmp_path: Path) -> None:
    @dataclasses.dataclass(frozen=True)
    class Wanted:
        x: int

    finding = Finding("some-rule", "m", Span(tmp_path / "a.ts", 0, 1), Severity.INFO)
    with pytest.raises(CannotFix, match="some-rule finding has no detection state"):
        state_of(finding, Wanted)
    finding.state = "something else"
    with pytest.raises(CannotFix, match="carries str, not Wanted"):
        state_of(finding, Wanted)
    finding.state = Wanted(3)
    assert state_of(finding, Wanted) == Wanted(3)


@pytest.mark.parametrize("rule_dir", sorted(p for p in FIXTURES.iterdir() if p.is_dir()), ids=str)
def test_builders_use_the_state_and_refuse_a_finding_without_it(rule_dir: Path) -> None:
    result = _analysed(rule_dir)
    stateful = _stateful_rules()
    seen_state: set[str] = set()
    for finding in result.findings:
        spec = spec_for(finding.rule_id)
        if spec is None:
            continue
        bare = dataclasses.replace(finding, state=None)
        if finding.rule_id in stateful:
            if finding.state is not None:
                if fixes_for(finding, result.model):
                    seen_state.add(finding.rule_id)
                    with pytest.raises(CannotFix, match="no detection state"):
                        spec.build(bare, result.model)
                assert fixes_for(bare, result.model) == []
        else:
            # a rule whose fix needs only the finding's span and plain data: same fixes
            with_state = [fix_key(f) for f in fixes_for(finding, result.model)]
            without = [fix_key(f) for f in fixes_for(bare, result.model)]
            assert without == with_state
    own = rule_dir.name
    if own in stateful and own not in NO_FIX_IN_PLACE:
        assert own in seen_state, f"{own}: no fixed finding of the fixture carries its state"


def test_no_builder_finds_the_rules_nodes_again() -> None:
    """The helpers that re-found nodes and statements from `finding.data` are gone, and no fix
    module reads node offsets or statement references back from it. (Harden's outputs still
    name a config by path: they look it up in the model of the planned result, which the
    finding's state, from an earlier round's model, does not describe.)"""
    pattern = re.compile(
        r"find_statement|node_at\(|finding_class|finding\.data\[\"(call|throw|statement|accept|"
        r"inserts|statements)\"\]|finding\.data\.get\(\"(statement|config)\"\)"
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(CODEACTIONS.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
