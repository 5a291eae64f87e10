"""kv-backed-class: `new_classes` migrations (error when the class runs SQL)."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from durable_harden.analyzers.findings import Severity
from durable_harden.codeactions import fixes_for
from tests.rules._config_support import apply_fix, fixture, line_of, run, text_of
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "kv-backed-class"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def _commit(root: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "deployed"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def test_new_classes_reported_error_when_the_class_uses_sql(tmp_path: Path) -> None:
    root = fixture(RULE, "legacy", tmp_path)
    findings, _ = run(RULE, root)
    assert sorted((line_of(f), text_of(f), f.severity) for f in findings) == [
        (16, '"Counter"', Severity.WARNING),
        (20, '"Series"', Severity.ERROR),
    ]


def test_fix_renames_the_key_of_an_uncommitted_entry_only(tmp_path: Path) -> None:
    root = fixture(RULE, "legacy", tmp_path)
    config = root / "wrangler.toml"
    before = config.read_text()
    findings, model = run(RULE, root)
    series = next(f for f in findings if f.data["class"] == "Series")
    (fix,) = fixes_for(series, model)
    assert not fix.is_safe and "never deployed" in fix.review
    apply_fix(fix)
    after = config.read_text()
    assert after == before.replace(
        'new_classes = ["Series"]  # copied', 'new_sqlite_classes = ["Series"]  # copied'
    )
    assert tomllib.loads(after)["migrations"][1] == {"tag": "v2", "new_sqlite_classes": ["Series"]}
    assert [f.data["class"] for f in run(RULE, root)[0]] == ["Counter"]


def test_no_fix_once_the_entry_is_committed(tmp_path: Path) -> None:
    root = fixture(RULE, "legacy", tmp_path)
    _commit(root)
    findings, model = run(RULE, root)
    assert len(findings) == 2
    assert all(fixes_for(f, model) == [] for f in findings)


def test_sql_of_a_d1_database_or_another_worker_does_not_make_a_class_sql(tmp_path: Path) -> None:
    # two Workers with a same-named class: only one of them runs SQL on its own storage; the
    # other sends SQL text to D1 (`db.prepare`)
    for worker, body in (
        ("a", 'this.ctx.storage.sql.exec("SELECT 1");'),
        ("b", 'this.env.DB.prepare("SELECT COUNT(*) AS n FROM users").first();'),
    ):
        (tmp_path / worker / "src").mkdir(parents=True)
        (tmp_path / worker / "src" / "index.ts").write_text(
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Stats extends DurableObject<{ DB: D1Database }> {\n"
            f"  run() {{ {body} }}\n}}\n"
        )
        (tmp_path / worker / "wrangler.jsonc").write_text(
            f'{{ "name": "{worker}", "main": "src/index.ts", "compatibility_date": "2026-01-01",\n'
            '  "durable_objects": { "bindings": [{ "name": "S", "class_name": "Stats" }] },\n'
            '  "migrations": [{ "tag": "v1", "new_classes": ["Stats"] }] }\n'
        )
    findings, _ = run("kv-backed-class", tmp_path)
    by_worker = {f.path.parent.name: f for f in findings}
    assert (by_worker["a"].severity, by_worker["a"].message_id) == (Severity.ERROR, "runs-sql")
    assert (by_worker["b"].severity, by_worker["b"].message_id) == (Severity.WARNING, "kv-backed")
