"""scripts/fix_check.py: the fix check on real code, exercised on a small corpus built here."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("fix_check", ROOT / "scripts" / "fix_check.py")
assert spec is not None and spec.loader is not None
fix_check = importlib.util.module_from_spec(spec)
sys.modules["fix_check"] = fix_check
spec.loader.exec_module(fix_check)


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "examples" / "chat-room", corpus / "me__chat" / "app")
    (corpus / "MANIFEST.tsv").write_text(
        "repo\tcommit\tlicence\tproject_folder\tfiles\tts_lines\tdo_classes\tfeatures\n"
        "me/chat\t0\tMIT\tapp\t1\t1\tChatRoom\t\n"
        "me/chat\t0\tMIT\tlib (imported)\t1\t1\t\t\n"
    )
    return corpus


def test_manifest_rows_name_project_folders_and_skip_imported_files(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    assert fix_check.manifest_projects(corpus) == [corpus / "me__chat" / "app"]


def test_a_new_error_region_or_a_changed_one_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.ts"
    good = b"export const a = 1;\n"
    broken = b"export const a = ;\nfunction (\n"
    assert not fix_check.error_regions(path, good)
    assert fix_check.error_regions(path, broken) - fix_check.error_regions(path, good)
    # text inserted into an existing error region makes it a new one
    grown = broken.replace(b"function (", b"function ( x")
    assert fix_check.error_regions(path, grown) - fix_check.error_regions(path, broken)


def test_type_annotations_in_javascript_are_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.mjs"
    assert fix_check.node_syntax_error(path, b"export function f(ws) { return ws; }\n") is None
    error = fix_check.node_syntax_error(path, b"export function f(ws: WebSocket) { return ws; }\n")
    assert error is not None and "SyntaxError" in error


def test_hardened_example_passes_and_a_broken_fix_fails(tmp_path: Path, monkeypatch) -> None:
    if not fix_check.TSC.exists():
        pytest.fail("tests/runtime/node_modules is missing: run `npm ci --prefix tests/runtime`")
    corpus = _corpus(tmp_path)
    (result,) = fix_check.run_fix_check(corpus, jobs=1)
    assert result.ok, result.failures
    assert "src/chat-room.ts" in result.edited
    # a harden that writes code tsc rejects and the parser cannot read must be reported
    real = fix_check.harden

    def broken_harden(root: Path):  # type: ignore[no-untyped-def]
        done = real(root)
        path = root / "src" / "chat-room.ts"
        path.write_text(path.read_text() + "\nconst broken: number = 'x';\nfunction (\n")
        return done

    monkeypatch.setattr(fix_check, "harden", broken_harden)
    (result,) = fix_check.run_fix_check(corpus, jobs=1)
    assert not result.ok
    text = "\n".join(result.failures)
    assert "new syntax error region" in text
    assert "a second harden changed src/chat-room.ts" in text
    assert "new tsc error" in text
    assert "fix check: 0 passed, 1 failed, 1 projects" in fix_check.render([result])
