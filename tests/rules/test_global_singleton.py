"""global-singleton: a namespace reached by a constant name."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import fixture, flagged, line_of, marked, run, text_of
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "global-singleton"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_constant_names_are_reported_keys_are_not(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    findings, model = run(RULE, root)
    assert sorted((line_of(f), text_of(f)) for f in findings) == [
        (44, '"global"'),
        (45, "`settings`"),
    ]
    assert all(fixes_for(f, model) == [] for f in findings)  # advice only


def test_test_files_are_skipped(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    (root / "test").mkdir()
    (root / "test" / "store.test.ts").write_text(
        'import { env } from "cloudflare:test";\n'
        'export const stub = env.STORE.getByName("fixture");\n'
    )
    assert {f.span.path.name for f in run(RULE, root)[0]} == {"index.ts"}


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    assert flagged(run(RULE, root)[0], root) == marked(root)


def test_opt_in_runs_only_when_named(tmp_path: Path) -> None:
    """Group `advice`: off by default and under ALL; on by id, group or --extend-select."""
    import json
    import subprocess
    import sys

    from durable_harden.analyzers.analysis import Settings, analyze_paths
    from durable_harden.analyzers.rules import resolve_selector

    root = fixture(RULE, "app", tmp_path)

    def found(settings: Settings) -> int:
        return sum(f.rule_id == RULE for f in analyze_paths([root], settings).findings)

    assert found(Settings()) == 0
    assert found(Settings(select=["ALL"])) == 0
    assert RULE not in resolve_selector("ALL") and resolve_selector("advice") == [RULE]
    assert found(Settings(select=resolve_selector("advice"))) == 2
    assert found(Settings(select=["ALL", RULE])) == 2
    assert found(Settings(select=[RULE], ignore=[RULE])) == 0

    def cli(*args: str) -> list[str]:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "durable_harden",
                "check",
                str(root),
                "--output-format",
                "json",
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        return [item["code"] for item in json.loads(proc.stdout)]

    assert RULE not in cli()
    assert cli("--extend-select", "advice").count(RULE) == 2
    assert cli("--select", "identity").count(RULE) == 0
    (root / "durable-harden.jsonc").write_text('{ "extendSelect": ["global-singleton"] }')
    assert cli().count(RULE) == 2
