"""migration-history-edited: applied migrations compared with git HEAD."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import json5
import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import apply_fix, fix_all, run
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "migration-history-edited"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


JSONC = """// history of classes
{
  "main": "src/index.ts",
  "migrations": [
    // first deploy
    { "tag": "v1", "new_sqlite_classes": ["Room"] },
    { "tag": "v2", "new_sqlite_classes": ["Lobby"] }, // second
  ],
}
"""


def _repo(root: Path, name: str, text: str) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "index.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Room extends DurableObject {}\nexport class Lobby extends DurableObject {}\n"
    )
    (root / name).write_text(text)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "deployed"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return root


def test_no_git_no_history_finding(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(JSONC.replace('["Room"]', '["Room", "Hall"]'))
    assert run(RULE, root)[0] == []


def test_unchanged_history_and_appended_entries_are_fine(tmp_path: Path) -> None:
    root = _repo(tmp_path / "p", "wrangler.jsonc", JSONC)
    assert run(RULE, root)[0] == []
    config = root / "wrangler.jsonc"
    config.write_text(
        config.read_text().replace(
            "// second\n", '// second\n    { "tag": "v3", "new_sqlite_classes": ["Hall"] },\n'
        )
    )
    assert run(RULE, root)[0] == []


def test_class_added_to_an_applied_entry_is_restored_and_appended(tmp_path: Path) -> None:
    root = _repo(tmp_path / "p", "wrangler.jsonc", JSONC)
    config = root / "wrangler.jsonc"
    config.write_text(JSONC.replace('["Room"]', '["Room", "Hall"]'))
    findings, model = run(RULE, root)
    assert [(f.message_id, f.data["added"]) for f in findings] == [("edited", ["Hall"])]
    (fix,) = fixes_for(findings[0], model)
    assert fix.is_safe
    apply_fix(fix)
    assert config.read_text() == JSONC.replace(
        "// second\n", '// second\n    { "tag": "v3", "new_sqlite_classes": ["Hall"] },\n'
    )
    json5.loads(config.read_text())
    assert run(RULE, root)[0] == []
    assert fix_all(RULE, root) == 0


def test_other_edits_are_restored_by_an_unsafe_fix(tmp_path: Path) -> None:
    root = _repo(tmp_path / "p", "wrangler.jsonc", JSONC)
    config = root / "wrangler.jsonc"
    config.write_text(JSONC.replace('"tag": "v1"', '"tag": "initial"'))
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert not fix.is_safe and "dropped" in fix.review
    apply_fix(fix)
    assert config.read_text() == JSONC


def test_removed_and_moved_entries(tmp_path: Path) -> None:
    root = _repo(tmp_path / "p", "wrangler.jsonc", JSONC)
    config = root / "wrangler.jsonc"
    config.write_text(
        JSONC.replace('    { "tag": "v2", "new_sqlite_classes": ["Lobby"] }, // second\n', "")
    )
    assert [f.message_id for f in run(RULE, root)[0]] == ["removed"]
    config.write_text(
        JSONC.replace(
            '{ "tag": "v1", "new_sqlite_classes": ["Room"] },\n    { "tag": "v2", "new_sqlite_classes": ["Lobby"] },',
            '{ "tag": "v2", "new_sqlite_classes": ["Lobby"] },\n    { "tag": "v1", "new_sqlite_classes": ["Room"] },',
        )
    )
    assert [f.message_id for f in run(RULE, root)[0]] == ["moved", "moved"]


def test_toml_edit_restored_and_appended(tmp_path: Path) -> None:
    text = (
        'main = "src/index.ts"\n\n# applied\n[[migrations]]\ntag = "v1"\n'
        'new_sqlite_classes = ["Room"]  # first\n\n[vars]\nMODE = "prod"\n'
    )
    root = _repo(tmp_path / "p", "wrangler.toml", text)
    config = root / "wrangler.toml"
    config.write_text(text.replace('["Room"]', '["Room", "Hall"]'))
    assert fix_all(RULE, root) == 1
    result = config.read_text()
    assert result == text.replace(
        "# first\n", '# first\n\n[[migrations]]\ntag = "v2"\nnew_sqlite_classes = ["Hall"]\n'
    )
    assert tomllib.loads(result)["migrations"][1]["new_sqlite_classes"] == ["Hall"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{ "main": "src/index.ts", "migrations": [{ "tag": "v1", "new_sqlite_classes": ["A"] },'
            ' { "tag": "v1", "new_sqlite_classes": ["B"] }] }',
            "duplicate-tag",
        ),
        (
            '{ "main": "src/index.ts", "migrations": [{ "tag": "v1", "new_sqlite_classes": ["A"] }],'
            ' "exports": { "B": { "type": "durable-object" } } }',
            "exports-and-migrations",
        ),
    ],
)
def test_problems_visible_without_git(tmp_path: Path, text: str, problem: str) -> None:
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(text)
    assert [f.message_id for f in run(RULE, root)[0]] == [problem]
