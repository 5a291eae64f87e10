"""The cold `check`'s speed-ups (issue 14, docs/performance.md "Issue 14: the cold check") give
the same answers as the work they save: the settings file found per folder once per run, the
cyclic garbage collector paused during an analysis, and the sql-missing-index fixes sharing one
"which queries would be reordered" answer per (scope, table, columns)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from durable_harden.analyzers.analysis import (
    Settings,
    analyze_paths,
    collector_paused,
    workspace_for,
)
from durable_harden.analyzers.settings_file import find_settings_file
from durable_harden.codeactions import Safety, fixes_for
from durable_harden.server.check_run import Overrides, run_check
from durable_harden.server.cli import main
from tests.conftest import MINIMAL_WRANGLER, ROOT, generate_monorepo, write_tree

SETTINGS = '{ "ignore": ["sql-interpolation"] }\n'


def _settings_tree(root: Path) -> list[Path]:
    """Nested settings files, a package.json with and one without the key, a repository root
    that ends the walk, and a file whose symbolic link lives in another folder."""
    write_tree(
        root,
        {
            "outer/durable-harden.jsonc": SETTINGS,  # above the repository: never reached
            "outer/repo/.git/HEAD": "ref: refs/heads/main\n",
            "outer/repo/package.json": '{ "name": "r", "durable-harden": { "ignore": [] } }\n',
            "outer/repo/a/b/c.ts": "export const c = 1;\n",
            "outer/repo/a/d.ts": "export const d = 1;\n",
            "outer/repo/e/durable-harden.jsonc": SETTINGS,
            "outer/repo/e/f/g/h.ts": "export const h = 1;\n",
            "outer/repo/e/i.ts": "export const i = 1;\n",
            "outer/repo/k/package.json": '{ "name": "k" }\n',  # no key: the walk goes on
            "outer/repo/k/l.ts": "export const l = 1;\n",
            "outer/plain/m.ts": "export const m = 1;\n",  # no repository, no settings above
        },
    )
    link = root / "outer/repo/k/linked.ts"
    link.symlink_to(root / "outer/repo/e/f/g/h.ts")
    return sorted((root / "outer").rglob("*.ts"))


def test_settings_file_per_folder_memo_gives_every_file_its_own_answer(tmp_path: Path) -> None:
    files = _settings_tree(tmp_path)
    folders = sorted({f.parent for f in files})
    alone = {p: find_settings_file(p) for p in [*files, *folders]}
    repo = tmp_path / "outer/repo"
    assert alone[repo / "a/b/c.ts"] == repo / "package.json"
    assert alone[repo / "e/f/g/h.ts"] == repo / "e/durable-harden.jsonc"
    assert alone[repo / "k/l.ts"] == repo / "package.json"
    assert alone[repo / "k/linked.ts"] == repo / "e/durable-harden.jsonc"  # the link's target
    assert alone[tmp_path / "outer/plain/m.ts"] == tmp_path / "outer/durable-harden.jsonc"
    # any order of asking, one memo per run: the same answers (deep folders first fill the memo
    # for their ancestors; shallow first answer the deep ones from it)
    for order in (files, files[::-1], [*folders, *files], [*files[::-1], *folders[::-1]]):
        memo: dict[Path, Path | None] = {}
        assert {p: find_settings_file(p, memo) for p in order} == {p: alone[p] for p in order}


def test_settings_memo_is_per_run_so_a_new_settings_file_is_seen(tmp_path: Path) -> None:
    write_tree(
        tmp_path / "w",
        {
            "wrangler.jsonc": MINIMAL_WRANGLER,
            "src/index.ts": "export const sql = (x: string) => `SELECT * FROM t WHERE a = '${x}'`;\n",
        },
    )
    (tmp_path / "w/.git").mkdir()
    overrides = Overrides.from_flags(None, None, None, [], False, None)
    first = run_check([tmp_path / "w"], overrides)
    assert all(found is None for _, found in first.settings.values())
    (tmp_path / "w/src/durable-harden.jsonc").write_text(SETTINGS)
    second = run_check([tmp_path / "w"], overrides)
    settings, found = second.settings[(tmp_path / "w/src/index.ts").resolve()]
    assert found is not None and "sql-interpolation" in settings.ignore


def test_check_gives_each_file_the_settings_of_its_nearest_file(tmp_path: Path) -> None:
    files = _settings_tree(tmp_path)
    overrides = Overrides.from_flags(None, None, None, [], False, None)
    run = run_check([tmp_path / "outer"], overrides)
    for path in files:
        chosen = run.settings.get(path.resolve()) or run.settings.get(path)
        assert chosen is not None, path
        expected = overrides.settings_for(path)
        assert repr(chosen[0]) == repr(expected[0]), path
        assert (chosen[1].path if chosen[1] else None) == (
            expected[1].path if expected[1] else None
        )


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_restores_the_collector_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with collector_paused():
            assert not gc.isenabled()
            with collector_paused():  # nested: the inner one leaves it off
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("an analysis that fails")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_analysis_and_check_leave_the_collector_on(tmp_path: Path) -> None:
    write_tree(tmp_path / "w", {"wrangler.jsonc": MINIMAL_WRANGLER, "src/index.ts": "let x = 1;\n"})
    assert gc.isenabled()
    analyze_paths([tmp_path / "w"])
    assert gc.isenabled()
    run_check([tmp_path / "w"], Overrides.from_flags(None, None, None, [], False, None))
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("flags", "stays_off"),
    [([], True), (["--fix"], False), (["--add-ignore"], False)],
)
def test_the_programs_plain_check_leaves_the_collector_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], stays_off: bool
) -> None:
    # run() (the program, which ends after a check) keeps the collector off after a plain
    # check's analysis: collecting then walks everything the analysis made and frees nothing.
    # --fix and --add-ignore analyse again after writing, so each round must still be freed;
    # main() in-process (`_program` False, the test above) leaves it on.
    from durable_harden.server import cli

    write_tree(tmp_path / "w", {"wrangler.jsonc": MINIMAL_WRANGLER, "src/index.ts": "let x = 1;\n"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_program", True)
    try:
        assert gc.isenabled()
        cli.main(["check", "--no-cache", *flags, "w"])
        assert gc.isenabled() is not stays_off
    finally:
        gc.enable()


LOG = """import { DurableObject } from "cloudflare:workers";

export class Log extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, room TEXT, ts INTEGER)");
  }

  QUERIES
}
"""
AT = 'at(t: number) { return this.ctx.storage.sql.exec("SELECT * FROM events WHERE ts = ?", t).one(); }'
SINCE = 'since(t: number) { return this.ctx.storage.sql.exec("SELECT * FROM events WHERE ts > ?", t).toArray(); }'
IDS_AT = 'idsAt(t: number) { return this.ctx.storage.sql.exec("SELECT id FROM events WHERE ts = ?", t).toArray(); }'


def _wrangler(name: str) -> str:
    return json.dumps(
        {
            "name": name,
            "main": "src/log.ts",
            "compatibility_date": "2026-03-01",
            "durable_objects": {"bindings": [{"name": "LOG", "class_name": "Log"}]},
            "migrations": [{"tag": "v1", "new_sqlite_classes": ["Log"]}],
        }
    )


def test_index_fixes_share_the_reordering_answer_per_scope_not_across(tmp_path: Path) -> None:
    # two Worker projects with the same table and the same wanted index events(ts): in `ranged`
    # an unordered range query would come back in index order (every fix of that index there is
    # unsafe), in `exact` only equality queries (safe). The shared answer must stay per scope.
    write_tree(
        tmp_path / "mono",
        {
            "ranged/wrangler.jsonc": _wrangler("ranged"),
            "ranged/src/log.ts": LOG.replace("QUERIES", "\n  ".join([AT, SINCE, IDS_AT])),
            "exact/wrangler.jsonc": _wrangler("exact"),
            "exact/src/log.ts": LOG.replace("QUERIES", "\n  ".join([AT, IDS_AT])),
        },
    )
    result = analyze_paths([tmp_path / "mono"], Settings(select=["sql-missing-index"]))
    findings = [f for f in result.findings if f.rule_id == "sql-missing-index"]
    assert {f.path.parent.parent.name for f in findings} == {"ranged", "exact"}
    assert len(findings) == 5

    def described(finding: object) -> list[tuple[str, str, str, str]]:
        return [
            (fix.title, fix.safety.value, fix.review, repr(fix.edits))
            for fix in fixes_for(finding, result.model)  # type: ignore[arg-type]
        ]

    shared = [described(f) for f in findings]  # one model: the memo fills as it goes
    fresh = []
    for finding in findings:
        result.model.memo.pop("sql-missing-index:reordered", None)
        result.model.memo.pop("sql-missing-index:candidates", None)
        fresh.append(described(finding))
    assert shared == fresh
    for finding, fixes in zip(findings, shared, strict=True):
        ((title, safety, review, _),) = fixes
        assert "events(ts)" in title, fixes
        if finding.path.parent.parent.name == "ranged":
            assert safety == Safety.UNSAFE.value and "WHERE ts > ?" in review, fixes
        else:
            assert safety == Safety.SAFE.value and "ORDER BY" not in review, fixes
    # and in another order of building (the other project's first)
    result.model.memo.pop("sql-missing-index:reordered", None)
    result.model.memo.pop("sql-missing-index:candidates", None)
    reversed_order = [described(f) for f in findings[::-1]][::-1]
    assert reversed_order == shared


def _program(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONUNBUFFERED", None)  # a pipe's stdout is buffered, as for most users
    return subprocess.run(
        [sys.executable, "-m", "durable_harden", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_the_program_ends_after_check_with_every_byte_of_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `python -m durable_harden check` skips the interpreter's teardown (cli.run): the report,
    # bigger than a pipe's buffer, must still arrive whole, with the exit code, and an
    # --output-file must be complete; the same as main() in-process says
    generate_monorepo(tmp_path / "mono", 120)
    args = ["check", "--no-cache", "--output-format", "json", "mono"]
    done = _program(args, tmp_path)
    monkeypatch.chdir(tmp_path)
    code = main(args)
    in_process = capsys.readouterr().out
    assert done.returncode == code == 1, done.stderr
    assert len(done.stdout) > 2**16 and json.loads(done.stdout)
    assert done.stdout == in_process
    assert "Traceback" not in done.stderr

    written = _program([*args, "--output-file", "out/report.json"], tmp_path)
    assert written.returncode == 1 and written.stdout == ""
    assert (tmp_path / "out/report.json").read_text() == in_process

    text = _program(["check", "--no-cache", "--statistics", "mono"], tmp_path)
    assert text.returncode == 1 and text.stdout.strip().splitlines()


def test_other_commands_and_usage_errors_end_normally(tmp_path: Path) -> None:
    rules = _program(["rules", "--output-format", "json"], tmp_path)
    assert rules.returncode == 0 and json.loads(rules.stdout)
    usage = _program(["check", "--no-cache", "--select", "NO-SUCH-RULE", "."], tmp_path)
    assert usage.returncode == 2 and "NO-SUCH-RULE" in usage.stderr


def _workspace_pairwise(paths: list[Path]) -> tuple[list[Path], list[Path], list[Path]]:
    """workspace_for's roots and files computed the plain way (each path walked on its own,
    each root compared with every other, each given file looked up in the list)."""
    from durable_harden.analyzers.roots import find_configs_in, resolve_given
    from durable_harden.analyzers.workspace import discover

    def root_of(path: Path) -> Path:
        path = resolve_given(path)
        folder = path if path.is_dir() else path.parent
        for candidate in (folder, *folder.parents):
            if find_configs_in(candidate) is not None:
                return candidate
            if (candidate / ".git").exists():
                break
        return folder

    existing = [resolve_given(p) for p in paths if resolve_given(p).exists()]
    roots = sorted({root_of(p) for p in existing}, key=lambda p: (len(p.parts), str(p)))
    roots = [r for r in roots if not any(o != r and o in r.parents for o in roots)]
    found = discover(roots, [])
    for given in existing:
        if given.is_file() and given not in found.sources and given not in found.configs:
            found.sources.append(given)
    return roots, sorted(found.sources, key=str), sorted(found.configs, key=str)


def test_workspace_of_many_explicit_files_is_the_pairwise_one(tmp_path: Path) -> None:
    # nested Worker projects (a root inside another adds nothing), a repository boundary, a
    # library outside every project, files named twice, folders and files mixed
    write_tree(
        tmp_path,
        {
            "repo/.git/HEAD": "ref: refs/heads/main\n",
            "repo/apps/a/wrangler.jsonc": _wrangler("a"),
            "repo/apps/a/src/log.ts": "export const a = 1;\n",
            "repo/apps/a/src/deep/x.ts": "export const x = 1;\n",
            "repo/apps/a/inner/wrangler.jsonc": _wrangler("inner"),
            "repo/apps/a/inner/src/i.ts": "export const i = 1;\n",
            "repo/apps/b/wrangler.toml": 'name = "b"\nmain = "src/b.ts"\n',
            "repo/apps/b/src/b.ts": "export const b = 1;\n",
            "repo/libs/shared/util.ts": "export const u = 1;\n",
            "repo/libs/shared/more/v.ts": "export const v = 1;\n",
            "loose/w.ts": "export const w = 1;\n",
            # left out by discovery's default excludes: checked only when named
            "repo/apps/a/dist/built.ts": "export const d = 1;\n",
        },
    )
    files = sorted(tmp_path.rglob("*.ts")) + sorted(tmp_path.rglob("wrangler.*"))
    built = tmp_path / "repo/apps/a/dist/built.ts"
    for given in (
        files,
        files[::-1] + files[:3] + [built, built],
        [tmp_path / "repo/apps", *files[:4]],
        [tmp_path / "repo/libs/shared/util.ts", tmp_path / "loose"],
    ):
        ws = workspace_for(given, Settings())
        roots, sources, configs = _workspace_pairwise(given)
        assert sorted(ws.roots, key=lambda p: (len(p.parts), str(p))) == roots
        assert ws.sources == sources and ws.configs == configs


def test_discovery_on_strings_keeps_what_it_took_and_left(tmp_path: Path) -> None:
    # the walk passes over files that are neither sources nor configs before matching ignore
    # patterns and reads a folder's .gitignore only when the folder lists one: the files found,
    # their order, the folders skipped by default, and what an explicit path adds stay the same
    from durable_harden.analyzers.workspace import discover

    write_tree(
        tmp_path / "repo",
        {
            ".git/HEAD": "ref: refs/heads/main\n",
            ".gitignore": "gen/\n*.log.ts\n!keep.log.ts\n*.log\n",
            "src/.gitignore": "*.mjs\n",
            "src/a.ts": "",
            "src/b.mjs": "",
            "src/gen/c.ts": "",
            "src/e.d.ts": "",
            "lib/keep.log.ts": "",
            "lib/drop.log.ts": "",
            "lib/d.js": "",
            "lib/.gitignore/not-a-file.txt": "",  # a folder named .gitignore ignores nothing
            "notes.md": "",
            "debug.log": "",  # ignored, and neither a source nor a config
            "wrangler.toml": "",
            "node_modules/x/i.ts": "",
            ".hidden/h.ts": "",
        },
    )
    repo = tmp_path / "repo"

    def names(found: list[Path]) -> list[str]:
        return [p.relative_to(repo).as_posix() for p in found]

    walked = discover([repo])
    assert names(walked.sources) == ["lib/d.js", "lib/keep.log.ts", "src/a.ts"]
    assert names(walked.configs) == ["wrangler.toml"]
    assert names(walked.skipped) == [".git", ".hidden", "node_modules", "lib/.gitignore"]
    # a file the walk passed over is not added again when given after its folder (as before),
    # but is taken as given when it comes first
    assert names(discover([repo, repo / "notes.md"]).sources) == names(walked.sources)
    assert names(discover([repo / "notes.md", repo]).sources) == [
        "notes.md",
        *names(walked.sources),
    ]
    # an ignored file was never `seen` by the walk: given after its folder, it is taken as given
    assert names(discover([repo, repo / "debug.log"]).sources) == [
        *names(walked.sources),
        "debug.log",
    ]
    assert names(discover([repo], ["lib/", "!lib/d.js"]).sources) == ["src/a.ts"]
    assert names(discover([repo / "src", repo / "src/gen/c.ts"]).sources) == [
        "src/a.ts",
        "src/gen/c.ts",
    ]
