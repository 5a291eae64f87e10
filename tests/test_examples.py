"""`durable-harden check examples/` reports each planted problem once, at the right line, and
nothing else: the correct code in the examples must stay quiet."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from durable_harden.analyzers.analysis import Settings, analyze_paths
from tests.conftest import EXAMPLES, line_of
from tests.examples_expected import EXPECTED, MUST_NOT_FLAG


@pytest.fixture(scope="module")
def found() -> Counter[tuple[str, int, str]]:
    result = analyze_paths([EXAMPLES], Settings())
    assert result.problems == []
    counts: Counter[tuple[str, int, str]] = Counter()
    for finding in result.findings:
        rel = finding.path.relative_to(EXAMPLES).as_posix()
        row = result.model.file(finding.path)
        if row is not None:
            line = row.lines.row_of(finding.span.start) + 1
        else:
            data = finding.path.read_bytes()
            line = data[: finding.span.start].count(b"\n") + 1
        counts[(rel, line, finding.rule_id)] += 1
    return counts


def expected() -> Counter[tuple[str, int, str]]:
    return Counter(
        (path, line_of(EXAMPLES / path, snippet), rule) for path, snippet, rule in EXPECTED
    )


def test_every_planted_problem_is_reported_once_and_nothing_else(found):
    assert found == expected()


@pytest.mark.parametrize(("path", "snippet"), MUST_NOT_FLAG)
def test_correct_code_is_not_flagged(found, path, snippet):
    line = line_of(EXAMPLES / path, snippet)
    assert [key for key in found if key[0] == path and key[1] == line] == []


def test_the_readme_demo_command(tmp_path):
    """The README's first command: `durable-harden check examples/` exits 1 with the findings."""
    proc = subprocess.run(
        [sys.executable, "-m", "durable_harden", "check", "examples/"],
        capture_output=True,
        text=True,
        cwd=EXAMPLES.parent,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"Found {len(EXPECTED)} problems." in proc.stdout
    for path, _, rule in EXPECTED:
        assert f"examples/{path}:" in proc.stdout and rule in proc.stdout
