"""scripts/add_rule.py scaffolds a rule into a copy of the repository: the registries find the
new modules without any hand registration, its docs page is generated, its test file is
collected and fails until the rule is written, and --snapshot-update records its snapshots."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "add_rule.py"
_spec = importlib.util.spec_from_file_location("add_rule", SCRIPT)
assert _spec is not None and _spec.loader is not None
add_rule = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(add_rule)
IGNORE = shutil.ignore_patterns("node_modules", "__pycache__", ".pytest_cache", "*.pyc")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the parts of the repository the scaffold and the rule tests need."""
    root = tmp_path_factory.mktemp("repo")
    for folder in ("analyzers", "codeactions", "server", "durable_harden", "examples", "scripts"):
        shutil.copytree(ROOT / folder, root / folder, symlinks=True, ignore=IGNORE)
    shutil.copytree(ROOT / "docs" / "rules", root / "docs" / "rules")
    shutil.copytree(
        ROOT / "tests",
        root / "tests",
        ignore=shutil.ignore_patterns(
            "node_modules", "__pycache__", "runtime", "lsp", "editors", "test_*.py"
        ),
    )
    shutil.copy(ROOT / "tests" / "rules" / "test_cross_rule_layout.py", root / "tests" / "rules")
    shutil.copy(ROOT / "tests" / "test_rule_docs.py", root / "tests")
    shutil.copy(ROOT / "pyproject.toml", root)
    return root


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    env.pop("CI", None)
    return subprocess.run(
        [sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )


def test_scaffolded_rule_is_registered_documented_and_tested(repo: Path) -> None:
    proc = _run(repo, str(SCRIPT), "demo-rule", "--title", "A demo problem", "--root", str(repo))
    assert proc.returncode == 0, proc.stderr
    for rel in (
        "analyzers/rules/demo_rule.py",
        "codeactions/demo_rule.py",
        "tests/rules/test_demo_rule.py",
        "tests/fixtures/demo-rule/flagged.ts",
        "tests/fixtures/demo-rule/clean.ts",
        "docs/rules/demo-rule.md",
    ):
        assert (repo / rel).is_file(), rel
    assert (
        "[`demo-rule`](demo-rule.md) | warning | yes | A demo problem |"
        in (repo / "docs" / "rules" / "README.md").read_text()
    )

    # the generated code passes the project's lint as it stands
    generated = [
        "analyzers/rules/demo_rule.py",
        "codeactions/demo_rule.py",
        "tests/rules/test_demo_rule.py",
    ]
    for lint in (["check"], ["format", "--check"]):
        linted = _run(repo, "-m", "ruff", *lint, *generated)
        assert linted.returncode == 0, linted.stdout + linted.stderr

    # the fix module exports its spec; the docs index above says the fix registry found it
    fix_module = (repo / "codeactions" / "demo_rule.py").read_text()
    assert 'SPEC = FixSpec("demo-rule", build, tier=TIER_OTHER, docs=FIX_DOCS)' in fix_module
    # the page merges both halves: the fix docs come from the fix module, not the rule
    page = (repo / "docs" / "rules" / "demo-rule.md").read_text()
    assert "### TODO: the fix's name (unsafe)" in page
    assert "`demo-rule/todo`" in page
    assert "fix=" not in (repo / "analyzers" / "rules" / "demo_rule.py").read_text()

    # the copy's rule registry finds the rule; the copy's code, not this checkout's
    probe = _run(
        repo,
        "-c",
        "import durable_harden; from durable_harden.analyzers.rules import rule_by_id;"
        "from durable_harden.codeactions import fixes_for;"
        "r = rule_by_id('demo-rule'); print(durable_harden.__file__, r.title, r.severity.name)",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split(" ", 1) == [
        str(repo / "durable_harden" / "__init__.py"),
        "A demo problem WARNING\n",
    ]

    test = "tests/rules/test_demo_rule.py"
    collected = _run(repo, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", test)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert [line for line in collected.stdout.splitlines() if "::" in line] == [
        f"{test}::test_snapshot[clean.ts]",
        f"{test}::test_snapshot[flagged.ts]",
        f"{test}::test_examples",
        f"{test}::test_flagged_lines_match_markers",
        f"{test}::test_correct_code_is_quiet",
    ]

    # the stub reports nothing: the marker test fails, the snapshots are missing
    first = _run(repo, "-m", "pytest", "-p", "no:cacheprovider", "-q", test)
    assert first.returncode == 1
    assert "3 failed, 2 passed" in first.stdout, first.stdout
    assert "no snapshot" in first.stdout and "--snapshot-update" in first.stdout

    update = _run(repo, "-m", "pytest", "-p", "no:cacheprovider", "-q", test, "--snapshot-update")
    assert "1 failed, 4 passed" in update.stdout, update.stdout  # the marker test only
    snap = repo / "tests" / "fixtures" / "demo-rule" / "snapshots" / "flagged.ts.snap"
    assert "# demo-rule on tests/fixtures/demo-rule/flagged.ts\n" in snap.read_text()

    # the layout and docs checks accept the new rule as it stands
    checks = _run(
        repo,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "tests/rules/test_cross_rule_layout.py",
        "tests/test_rule_docs.py",
        "-k",
        "demo-rule or demo_rule or every or current",
    )
    assert checks.returncode == 0, checks.stdout + checks.stderr


def test_existing_rule_and_bad_ids_are_refused(repo: Path) -> None:
    taken = _run(repo, str(SCRIPT), "sql-missing-index", "--root", str(repo))
    assert taken.returncode == 1 and "exists already" in taken.stderr
    assert (repo / "analyzers" / "rules" / "sql_missing_index.py").read_text() == (
        ROOT / "analyzers" / "rules" / "sql_missing_index.py"
    ).read_text()
    for bad in ("Bad_Rule", "trailing-", "two--dashes"):
        proc = _run(repo, str(SCRIPT), bad, "--root", str(repo), "--no-docs")
        assert proc.returncode == 2 and "is not a rule id" in proc.stderr, bad
    quoted = _run(repo, str(SCRIPT), "ok-rule", "--title", 'say "hi"', "--root", str(repo))
    assert quoted.returncode == 2 and not (repo / "analyzers" / "rules" / "ok_rule.py").exists()


def test_no_fix_rule_has_no_fix_module(repo: Path) -> None:
    proc = _run(repo, str(SCRIPT), "advice-only", "--no-fix", "--no-docs", "--root", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert (repo / "analyzers" / "rules" / "advice_only.py").is_file()
    assert not (repo / "codeactions" / "advice_only.py").exists()
    # the rule says why it has no fix, so the fix registry accepts it
    assert "no_fix=" in (repo / "analyzers" / "rules" / "advice_only.py").read_text()
    probe = _run(
        repo,
        "-c",
        "from durable_harden.codeactions import specs; from durable_harden.server.ruledocs "
        "import page; from durable_harden.analyzers.rules import rule_by_id;"
        "assert 'advice-only' not in specs(); print(page(rule_by_id('advice-only')))",
    )
    assert probe.returncode == 0, probe.stderr
    assert "## Fix and its safety\nNo automatic fix. TODO: why no fix" in probe.stdout
