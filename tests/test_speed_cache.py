"""`check`'s on-disk cache (server/check_cache.py): a hit replays byte for byte what a cold run
prints, any change to what the report depends on misses, and a bad cache is never trusted."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from durable_harden.server import check_cache, check_cli
from durable_harden.server.cli import main
from tests.conftest import EXAMPLES

FORMATS = ("text", "json", "sarif", "github", "junit", "gitlab")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "examples"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".durable-harden-cache"))
    monkeypatch.delenv(check_cache.NO_CACHE_ENV, raising=False)
    monkeypatch.delenv(check_cache.CACHE_DIR_ENV, raising=False)
    monkeypatch.chdir(root)
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


class _Analyses:
    """Counts the analyses `check` runs (a cache hit runs none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = check_cli.run_check

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(check_cli, "run_check", counting)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hit_prints_what_a_cold_run_prints(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    analyses = _Analyses(monkeypatch)
    uncached = _run(capsys, ".", "--output-format", fmt, "--no-cache")
    assert not (project / ".durable-harden-cache").exists()  # --no-cache writes nothing
    cold = _run(capsys, ".", "--output-format", fmt)
    assert analyses.count == 2
    warm = _run(capsys, ".", "--output-format", fmt)
    assert analyses.count == 2  # replayed, not analysed
    assert uncached == cold == warm
    assert cold[0] == 1 and cold[1]  # the examples have findings: a real report was replayed


def test_output_file_and_statistics_replay_identically(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "out" / "report.json"
    first = _run(capsys, ".", "--output-format", "json", "-o", str(report))
    written = report.read_bytes()
    report.unlink()
    assert _run(capsys, ".", "--output-format", "json", "-o", str(report)) == first
    assert report.read_bytes() == written
    stats = _run(capsys, ".", "--statistics")
    assert _run(capsys, ".", "--statistics") == stats
    assert stats != _run(capsys, ".")  # flags are part of the key


def test_the_cache_folder_is_tagged_and_ignored(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, ".")
    folder = project / ".durable-harden-cache"
    assert (
        (folder / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    assert (folder / ".gitignore").read_text() == "*\n"
    assert len(list(folder.glob("*.json"))) == 1
    assert not list(folder.glob(".tmp-*"))  # the temporary file was renamed into place


def test_any_edit_misses(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    analyses = _Analyses(monkeypatch)
    before = _run(capsys, ".", "--output-format", "json")
    source = project / "chat-room" / "src" / "chat-room.ts"
    # an edit that keeps the size (a timestamp-and-size check would miss it)
    source.write_bytes(source.read_bytes().replace(b"SELECT", b"select", 1))
    _run(capsys, ".", "--output-format", "json")
    assert analyses.count == 2
    # a new file in a folder the analysis listed
    (project / "chat-room" / "src" / "extra.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Extra extends DurableObject {\n"
        "  async alarm() { await fetch('https://example.com'); }\n}\n"
    )
    after = _run(capsys, ".", "--output-format", "json")
    assert analyses.count == 3
    assert after == _run(capsys, ".", "--output-format", "json", "--no-cache")
    analyses.count -= 1
    # a settings file in a parent folder (found by probing, not by listing)
    (project / "durable-harden.jsonc").write_text('{ "ignore": ["ALL"] }\n')
    ignored = _run(capsys, ".", "--output-format", "json")
    assert analyses.count == 4
    assert ignored[1] != before[1] and json.loads(ignored[1]) == []
    # an environment variable the reports read
    monkeypatch.setenv("DURABLE_HARDEN_DOCS_BASE_URL", "https://docs.example.com/rules/")
    _run(capsys, ".", "--output-format", "json")
    assert analyses.count == 5


def test_a_file_read_by_a_rule_outside_the_sources_is_a_dependency(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """rollout-unsafe reads the project's shell scripts: editing one misses the cache."""
    script = project / "chat-room" / "ship.sh"
    script.write_text("#!/bin/sh\necho building\n")
    analyses = _Analyses(monkeypatch)
    before = _run(capsys, ".", "--output-format", "json")
    entry = json.loads(next((project / ".durable-harden-cache").glob("*.json")).read_bytes())
    assert str(script) in entry["files"]
    script.write_text("#!/bin/sh\nnpx wrangler deploy\n")
    after = _run(capsys, ".", "--output-format", "json")
    assert analyses.count == 2
    assert after == _run(capsys, ".", "--output-format", "json", "--no-cache")
    assert "ship.sh" in after[1] and "ship.sh" not in before[1]


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"format": "something-else/9"}',
        b"null",
    ],
)
def test_a_corrupt_or_foreign_entry_is_ignored(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    damage: bytes,
) -> None:
    first = _run(capsys, ".", "--output-format", "sarif")
    (entry,) = (project / ".durable-harden-cache").glob("*.json")
    entry.write_bytes(damage)
    analyses = _Analyses(monkeypatch)
    assert _run(capsys, ".", "--output-format", "sarif") == first
    assert analyses.count == 1


def test_an_entry_with_wrong_types_is_ignored(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(capsys, ".")
    (entry,) = (project / ".durable-harden-cache").glob("*.json")
    data = json.loads(entry.read_bytes())
    entry.write_text(json.dumps({**data, "code": "1", "files": ["x"]}))
    analyses = _Analyses(monkeypatch)
    assert _run(capsys, ".") == first
    assert analyses.count == 1


def test_fix_and_add_ignore_never_use_the_cache(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, ".")

    def refuse(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the cache was consulted")

    monkeypatch.setattr(check_cache.CheckCache, "load", refuse)
    monkeypatch.setattr(check_cache.CheckCache, "store", refuse)
    code, _, _ = _run(capsys, ".", "--fix")
    assert code in (0, 1)
    code, _, _ = _run(capsys, ".", "--add-ignore")
    assert code in (0, 1)
    assert _run(capsys, ".", "--no-cache")[0] in (0, 1)


def test_a_fix_then_a_check_reports_the_fixed_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check after --fix sees the edited files, not the report cached before them."""
    before = _run(capsys, ".", "--output-format", "json")
    _run(capsys, ".", "--fix", "--no-cache")
    after = _run(capsys, ".", "--output-format", "json")
    uncached = _run(capsys, ".", "--output-format", "json", "--no-cache")
    assert after == uncached
    assert after[1] != before[1]  # the examples have safe fixes: the report changed


def test_a_symlinked_cache_folder_is_not_followed(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / ".durable-harden-cache").symlink_to(outside, target_is_directory=True)
    first = _run(capsys, ".")
    assert _run(capsys, ".") == first
    assert list(outside.iterdir()) == []


def test_the_environment_relocates_the_cache(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "cache-here"
    monkeypatch.setenv(check_cache.CACHE_DIR_ENV, str(elsewhere))
    first = _run(capsys, ".")
    assert len(list(elsewhere.glob("*.json"))) == 1
    assert not (project / ".durable-harden-cache").exists()
    analyses = _Analyses(monkeypatch)
    assert _run(capsys, ".") == first
    assert analyses.count == 0
    monkeypatch.setenv(check_cache.NO_CACHE_ENV, "1")
    assert _run(capsys, ".") == first
    assert analyses.count == 1


def test_old_entries_are_pruned(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_cache, "MAX_ENTRIES", 2)
    for level in ("hint", "info", "warning", "error"):
        _run(capsys, ".", "--fail-level", level)
    assert len(list((project / ".durable-harden-cache").glob("*.json"))) == 2


def test_an_unwritable_cache_is_no_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".durable-harden-cache").write_text("a file where the folder would be")
    first = _run(capsys, ".", "--no-cache")
    assert _run(capsys, ".") == first
    if os.name == "posix" and os.geteuid() != 0:
        (project / ".durable-harden-cache").unlink()
        project.chmod(0o555)
        try:
            assert _run(capsys, ".") == first
        finally:
            project.chmod(0o755)


def test_an_edited_config_file_misses(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--config`'s file is read while the flags are checked, before the cold run records what
    it reads, and settings files are memoised per process: the entry must still name it."""
    config = tmp_path / "settings.jsonc"
    config.write_text('{ "ignore": [] }\n')
    reported = _run(capsys, ".", "--output-format", "json", "--config", str(config))
    assert json.loads(reported[1])  # findings
    config.write_text('{ "ignore": ["ALL"] }\n')
    silenced = _run(capsys, ".", "--output-format", "json", "--config", str(config))
    assert json.loads(silenced[1]) == [] and silenced[0] == 0
    assert silenced == _run(capsys, ".", "--output-format", "json", "--config", str(config))


def test_flags_are_still_checked_when_an_entry_exists(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hit is replayed before the flags are validated (check_cache.replay): an entry exists
    only for flags a cold run accepted, so bad ones still say so."""
    assert _run(capsys, ".")[0] == 1
    monkeypatch.setenv("DURABLE_HARDEN_JOBS", "many")
    code, out, err = _run(capsys, ".")
    assert code == 2 and out == "" and "DURABLE_HARDEN_JOBS" in err
    monkeypatch.delenv("DURABLE_HARDEN_JOBS")
    code, out, err = _run(capsys, ".", "--select", "no-such-rule")
    assert code == 2 and "no-such-rule" in err
    assert _run(capsys, ".")[0] == 1


def test_a_hit_with_an_unwritable_output_file_says_so(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    assert _run(capsys, ".", "--output-format", "json", "-o", str(report))[0] == 1
    report.unlink()
    report.mkdir()  # the replay cannot write its report there
    code, _, err = _run(capsys, ".", "--output-format", "json", "-o", str(report))
    assert code == 2 and f"--output-file {report}" in err


def test_explicit_files_probe_their_folders(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given files one by one (as editors and pre-commit do), a settings file that appears in
    their folders' parents still misses: the key probes each folder once, from the file's own."""
    files = sorted(str(p.relative_to(project)) for p in project.glob("*/src/*.ts"))
    assert len(files) >= 3
    analyses = _Analyses(monkeypatch)
    before = _run(capsys, "--output-format", "json", *files)
    assert _run(capsys, "--output-format", "json", *files) == before
    assert analyses.count == 1 and json.loads(before[1])
    (project / "durable-harden.jsonc").write_text('{ "ignore": ["ALL"] }\n')
    after = _run(capsys, "--output-format", "json", *files)
    assert analyses.count == 2
    assert after == _run(capsys, "--output-format", "json", "--no-cache", *files)
    assert after[1] != before[1]
