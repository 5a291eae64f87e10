"""The command line a Ruff or ESLint user expects (issue 16): per-file settings, honest summaries,
git's ignore files, colour, rule selection, suppressions, the extra flags and formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from durable_harden.server.cli import main
from tests.conftest import ROOT, write_tree

WRANGLER = """
{
  "name": "t",
  "main": "src/index.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "ROOM", "class_name": "Room" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room"] }]
}
"""
TIMER_TS = """
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  start() {
    setInterval(() => this.tick(), 1000);
  }
  tick() {
    for (const ws of this.ctx.getWebSockets()) ws.send("tick");
  }
}
export default { fetch() { return new Response("ok"); } };
"""
TIMER = {"wrangler.jsonc": WRANGLER, "src/index.ts": TIMER_TS}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin=None):
    """The installed entry point in a real process (this worktree's code)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "durable_harden", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def codes(out: str) -> list[tuple[str, str]]:
    """(file name, rule) of each finding in json output."""
    return sorted((Path(i["filename"]).name, i["code"]) for i in json.loads(out))


# -- 1. the nearest settings file to each file wins --------------------------------------------


def test_each_file_gets_its_nearest_settings_file(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {
            **{f"a/{k}": v for k, v in TIMER.items()},
            **{f"b/{k}": v for k, v in TIMER.items()},
            "a/durable-harden.jsonc": '{ "ignore": ["timer-blocks-hibernation"] }',
        },
    )
    (root / ".git").mkdir()
    # from the monorepo root: a's settings apply to a only
    code, out, _ = run(capsys, "check", "--output-format", "json", str(root))
    assert code == 1
    (item,) = json.loads(out)
    assert item["filename"] == str(root / "b/src/index.ts")
    # `check a b` and `check b a`: the same, whatever comes first
    for order in (("a", "b"), ("b", "a")):
        code, out, _ = run(
            capsys, "check", "--output-format", "json", *(str(root / p) for p in order)
        )
        assert [i["filename"] for i in json.loads(out)] == [str(root / "b/src/index.ts")]
    # --config: one file for every path (Ruff's --config)
    code, out, _ = run(capsys, "check", "--config", str(root / "a/durable-harden.jsonc"), str(root))
    assert code == 0 and "All checks passed!" in out


# -- 2. say what was checked; syntax errors are findings ---------------------------------------


def test_summary_says_what_was_checked(tmp_path, capsys):
    root = write_tree(tmp_path / "p", TIMER)
    code, out, _ = run(capsys, "check", str(root))
    assert code == 1
    assert "Checked 2 files in 1 project." in out

    empty = tmp_path / "empty"
    (empty / "docs").mkdir(parents=True)
    (empty / "docs" / "notes.md").write_text("# nothing to check\n")
    code, out, _ = run(capsys, "check", str(empty))
    assert code == 0
    assert "All checks passed!" not in out
    assert "no files were checked" in out and "Checked 0 files" in out

    loose = write_tree(tmp_path / "loose", {"src/a.ts": TIMER_TS, "src/lib/b.ts": TIMER_TS})
    code, out, _ = run(capsys, "check", str(loose))
    assert "Checked 2 files in 1 project." in out  # no wrangler config: one project, not two
    two = write_tree(tmp_path / "two", {**{f"a/{k}": v for k, v in TIMER.items()}, "b/x.ts": ""})
    code, out, _ = run(capsys, "check", str(two))
    assert "Checked 3 files in 2 projects." in out

    code, out, err = run(capsys, "check", str(tmp_path / "nope"))
    assert code == 2
    assert "All checks passed!" not in out and "no such file or folder" in out

    code, out, err = run(capsys, "check", "--output-format", "json", str(empty))
    assert code == 0 and json.loads(out) == [] and "no files were checked" in err


def test_a_file_that_does_not_parse_is_a_syntax_error_finding(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {
            "src/broken.ts": "export class A {\n  f() {\n    return g(1\n  }\n}\n",
        },
    )
    code, out, _ = run(capsys, "check", str(root))
    assert code == 1
    assert "src/broken.ts" in out and "syntax-error" in out
    assert "All checks passed!" not in out
    code, out, _ = run(capsys, "check", "--output-format", "json", str(root))
    assert {i["code"] for i in json.loads(out)} == {"syntax-error"}
    code, out, _ = run(capsys, "check", "--ignore", "syntax-error", str(root))
    assert code == 0


def test_unreadable_file_is_not_all_checks_passed(tmp_path, capsys):
    root = write_tree(tmp_path, {"src/a.ts": b"\xff\xfe not utf-8"})
    code, out, _ = run(capsys, "check", str(root))
    assert code == 0  # a warning, as ESLint's "file ignored"; documented in docs/cli.md
    assert "All checks passed!" not in out
    assert "not valid UTF-8" in out and "could not be checked" in out


# -- 3. colour, sqlglot's logger, git's ignore files --------------------------------------------


def test_force_color_follows_nodes_convention(monkeypatch):
    from durable_harden.server.output import use_color

    class Pipe:
        def isatty(self) -> bool:
            return False

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    for value, expected in (("0", False), ("false", False), ("1", True), ("", True), ("3", True)):
        monkeypatch.setenv("FORCE_COLOR", value)
        assert use_color(Pipe()) is expected, value
    monkeypatch.setenv("FORCE_COLOR", "0")
    assert use_color(Tty()) is False
    monkeypatch.delenv("FORCE_COLOR")
    assert use_color(Tty()) is True and use_color(Pipe()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(Tty()) is False


def test_force_color_0_in_a_real_process(tmp_path):
    root = write_tree(tmp_path, TIMER)
    on = cli("check", str(root), env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    off = cli("check", str(root), env={"FORCE_COLOR": "0", "NO_COLOR": ""})
    assert "\x1b[" in on.stdout
    assert "\x1b[" not in off.stdout


def test_sqlglot_fallback_warnings_stay_off_stderr(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "wrangler.jsonc": WRANGLER,
            "src/index.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Room extends DurableObject {
              go() {
                this.ctx.storage.sql.exec("SAVEPOINT a");
                this.ctx.storage.sql.exec("RELEASE a");
                this.ctx.storage.sql.exec(
                  "CREATE TRIGGER t AFTER INSERT ON x BEGIN DELETE FROM x; END"
                );
              }
            }
            """,
        },
    )
    result = cli("check", str(root))
    assert result.returncode in (0, 1), result.stderr
    assert "unsupported syntax" not in result.stderr
    assert "Falling back" not in result.stderr


def git_repo(tmp_path: Path) -> Path:
    repo = write_tree(
        tmp_path / "repo",
        {
            **{f"pkg/{k}": v for k, v in TIMER.items()},
            "pkg/generated/gen.ts": TIMER_TS,
            "pkg/vendored/v.ts": TIMER_TS,
            "pkg/local/l.ts": TIMER_TS,
            "pkg/build/b.ts": TIMER_TS,
            "pkg/.cache/c.ts": TIMER_TS,
            ".gitignore": "generated/\n",
        },
    )
    (repo / ".git" / "info").mkdir(parents=True)
    (repo / ".git" / "info" / "exclude").write_text("vendored/\n")
    return repo


def shown_files(capsys, path: Path) -> tuple[list[str], str]:
    code, out, err = run(capsys, "check", "--show-files", str(path))
    assert code == 0
    return [line.split("  ")[0] for line in out.splitlines()], err


def test_git_ignore_files_above_the_checked_folder_apply(tmp_path, capsys, monkeypatch):
    repo = git_repo(tmp_path)
    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "ignore").write_text("local/\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.chdir(repo)
    files, err = shown_files(capsys, repo / "pkg")
    # the repository's .gitignore (above pkg/), .git/info/exclude, the global excludes file
    assert sorted(files) == ["pkg/src/index.ts", "pkg/wrangler.jsonc"]
    # what the defaults leave out is said
    assert "skipped by default: pkg/build/" in err and "skipped by default: pkg/.cache/" in err


def test_core_excludes_file_from_the_git_config(tmp_path, capsys, monkeypatch):
    repo = git_repo(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / "my-ignores").write_text("pkg/src/\n")
    (home / ".gitconfig").write_text(
        '[user]\n\tname = x\n[core]\n\texcludesFile = "~/my-ignores"  \n'
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.chdir(repo)
    files, _ = shown_files(capsys, repo / "pkg")
    assert "pkg/src/index.ts" not in files
    assert "pkg/local/l.ts" in files  # the XDG default is not read when core.excludesFile is set
    # a negation in a deeper .gitignore re-includes (git's precedence)
    (repo / "pkg" / ".gitignore").write_text("!src/\n")
    files, _ = shown_files(capsys, repo / "pkg")
    assert "pkg/src/index.ts" in files


def test_the_ignore_files_match_what_git_itself_ignores(tmp_path, monkeypatch):
    """git is the judge (the tool reads files, the test runs git to compare)."""
    import shutil

    if shutil.which("git") is None:
        pytest.fail("git is needed for this test: apt-get install git")
    repo = git_repo(tmp_path)
    shutil.rmtree(repo / ".git")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("vendored/\n")
    (repo / "pkg" / ".gitignore").write_text("*.ts\n!index.ts\n")
    from durable_harden.analyzers.workspace import discover

    ours = {p.relative_to(repo).as_posix() for p in discover([repo / "pkg"]).sources}
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "pkg"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    ).stdout.split()
    theirs = {p for p in listed if p.endswith(".ts") and "/build/" not in p and "/." not in p}
    assert ours == theirs == {"pkg/src/index.ts"}


def test_no_pathspec_deprecation_warning(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {**TIMER, "durable-harden.jsonc": '{"exclude": ["gen/**"]}', "gen/x.ts": TIMER_TS},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, _ = run(capsys, "check", "--exclude", "other/", str(root))
    assert code == 1 and "gen/x.ts" not in out
    assert not [w for w in caught if "gitwildmatch" in str(w.message)]


# -- 4. unsafe fixes, repeated --select, unknown ids in a settings file -------------------------


def test_unsafe_fixes_from_the_settings_file_and_the_flag(tmp_path, capsys):
    plain = write_tree(tmp_path / "plain", TIMER)
    code, _, _ = run(capsys, "check", "--fix", str(plain))
    assert code == 1 and "setInterval" in (plain / "src/index.ts").read_text()

    flagged = write_tree(tmp_path / "flag", TIMER)
    code, _, err = run(capsys, "check", "--fix", "--unsafe-fixes", str(flagged))
    assert "setInterval" not in (flagged / "src/index.ts").read_text()
    assert "Fixed 1 finding(s)" in err

    configured = write_tree(
        tmp_path / "conf", {**TIMER, "durable-harden.jsonc": '{ "unsafeFixes": true }'}
    )
    code, _, _ = run(capsys, "check", "--fix", str(configured))
    assert "setInterval" not in (configured / "src/index.ts").read_text()


def test_repeated_select_accumulates(tmp_path, capsys):
    root = write_tree(tmp_path, {**TIMER, "src/broken.ts": "export const = ;\n"})
    _code, out, _ = run(
        capsys,
        "check",
        "--output-format",
        "json",
        "--select",
        "timer-blocks-hibernation",
        "--select",
        "syntax-error",
        str(root),
    )
    assert codes(out) == [("broken.ts", "syntax-error"), ("index.ts", "timer-blocks-hibernation")]


def test_unknown_rule_in_a_settings_file_names_the_file(tmp_path, capsys):
    root = write_tree(tmp_path, {**TIMER, "durable-harden.jsonc": '{ "ignore": ["timer-block"] }'})
    code, _, err = run(capsys, "check", str(root))
    assert code == 2
    assert str(root / "durable-harden.jsonc") in err
    assert "timer-block" in err and "did you mean `timer-blocks-hibernation`" in err


# -- 6. suppressions: same line, --add-ignore ---------------------------------------------------


def test_same_line_suppression(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {
            **TIMER,
            "src/index.ts": TIMER_TS.replace(
                "setInterval(() => this.tick(), 1000);",
                "setInterval(() => this.tick(), 1000); "
                "// durable-harden-ignore timer-blocks-hibernation: a test clock",
            ),
        },
    )
    code, out, _ = run(capsys, "check", str(root))
    assert code == 0, out


def test_a_trailing_suppression_does_not_silence_the_next_line(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {
            **TIMER,
            "src/index.ts": TIMER_TS.replace(
                "  start() {",
                "  start() { // durable-harden-ignore timer-blocks-hibernation: wrong line",
            ),
        },
    )
    _code, out, _ = run(capsys, "check", "--output-format", "json", str(root))
    assert codes(out) == [
        ("index.ts", "timer-blocks-hibernation"),
        ("index.ts", "unused-suppression"),
    ]


def test_add_ignore_keeps_indentation_and_line_endings_and_is_idempotent(tmp_path, capsys):
    crlf = TIMER_TS.lstrip("\n").replace("\n", "\r\n").encode()
    root = write_tree(
        tmp_path,
        {
            "wrangler.jsonc": WRANGLER,
            "src/index.ts": crlf,
            "src/other.ts": ("\t" + TIMER_TS.lstrip("\n").replace("\n", "\n\t")).encode(),
        },
    )
    code, _, err = run(capsys, "check", "--add-ignore", "--reason", "adopted 2026", str(root))
    assert code == 0, err
    assert "Added suppressions for 2 findings in 2 files." in err
    data = (root / "src/index.ts").read_bytes()
    assert (
        b"\r\n    // durable-harden-ignore timer-blocks-hibernation: adopted 2026\r\n"
        b"    setInterval(" in data
    )
    assert b"\n" not in data.replace(b"\r\n", b"")  # no bare LF came in
    other = (root / "src/other.ts").read_text()
    assert "\n\t    // durable-harden-ignore timer-blocks-hibernation: adopted 2026\n" in other
    before = {p: p.read_bytes() for p in (root / "src").iterdir()}
    code, out, err = run(capsys, "check", "--add-ignore", str(root))
    assert code == 0 and "Added suppressions for 0 findings in 0 files." in err
    assert {p: p.read_bytes() for p in (root / "src").iterdir()} == before
    code, out, _ = run(capsys, "check", str(root))
    assert code == 0 and "All checks passed!" in out


def test_add_ignore_default_reason_and_lines_inside_strings(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {
            "wrangler.jsonc": WRANGLER,
            "src/index.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Room extends DurableObject {
              start() { setInterval(() => this.tick(), 1000); }
              tick() {}
            }
            """,
        },
    )
    run(capsys, "check", "--add-ignore", str(root))
    text = (root / "src/index.ts").read_text()
    assert (
        "  // durable-harden-ignore timer-blocks-hibernation: TODO say why this is acceptable here\n"
        "  start() {" in text
    )
    from durable_harden.analyzers.findings import Finding, Severity, Span
    from durable_harden.analyzers.source import parse_source
    from durable_harden.codeactions.suppress import add_ignores

    src = b"const q = `\n  SELECT * FROM t\n`;\n"
    path = Path("/x/q.ts")
    at = src.index(b"SELECT")
    finding = Finding("sql-unbounded-read", "m", Span(path, at, at + 6), Severity.WARNING)
    new, left = add_ignores(path, src, [finding], tree_root=parse_source(path, src).root)
    assert new == src and left == [finding]  # a comment inside the template would change the SQL


# -- 7. groups, prefixes, ALL, case, --extend-select, did you mean, per-file ignores -------------


def test_every_rule_has_one_group():
    from durable_harden.analyzers.rules import GROUPS, all_rules, group_of

    ids = [r.id for r in all_rules()]
    grouped = [i for members in GROUPS.values() for i in members]
    assert sorted(grouped) == sorted(ids), "every rule in exactly one group, no stale ids"
    assert not set(GROUPS) & set(ids)
    assert all(group_of(i) for i in ids)


def test_selecting_groups_prefixes_all_and_case(tmp_path, capsys):
    from durable_harden.analyzers.rules import GROUPS, resolve_selector

    assert resolve_selector("SQL") == resolve_selector("sql")
    assert set(resolve_selector("sql")) >= set(GROUPS["sql"])
    assert set(resolve_selector("websocket")) >= {
        "websocket-not-hibernatable",  # by prefix, though its group is hibernation
        "websocket-close-handshake",
    }
    assert resolve_selector("sql-too") == ["sql-too-many-params"]
    assert len(resolve_selector("all")) == len(resolve_selector("ALL")) > 30

    root = write_tree(tmp_path, {**TIMER, "src/broken.ts": "export const = ;\n"})
    for selector, expected in (
        ("hibernation", [("index.ts", "timer-blocks-hibernation")]),
        ("Timer-Blocks-Hibernation", [("index.ts", "timer-blocks-hibernation")]),
        ("general", [("broken.ts", "syntax-error")]),
        ("ALL", [("broken.ts", "syntax-error"), ("index.ts", "timer-blocks-hibernation")]),
    ):
        _, out, _ = run(
            capsys,
            "check",
            "-o",
            str(tmp_path / "r.json"),
            "--output-format",
            "json",
            "--select",
            selector,
            str(root),
        )
        assert codes((tmp_path / "r.json").read_text()) == expected, selector
    _code, out, _ = run(
        capsys,
        "check",
        "--output-format",
        "json",
        "--select",
        "sql",
        "--extend-select",
        "general",
        str(root),
    )
    assert codes(out) == [("broken.ts", "syntax-error")]


def test_extend_select_adds_to_the_settings_files_select(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {
            **TIMER,
            "src/broken.ts": "export const = ;\n",
            "durable-harden.jsonc": '{"select": ["sql"]}',
        },
    )
    code, out, _ = run(capsys, "check", "--output-format", "json", str(root))
    assert json.loads(out) == [] and code == 0
    code, out, _ = run(
        capsys, "check", "--output-format", "json", "--extend-select", "hibernation", str(root)
    )
    assert codes(out) == [("index.ts", "timer-blocks-hibernation")]


def test_unknown_selector_suggests_the_closest(capsys):
    code, _, err = run(capsys, "check", "--select", "sql-mising-index", ".")
    assert code == 2 and "did you mean `sql-missing-index`" in err
    code, _, err = run(capsys, "check", "--ignore", "hibernaton", ".")
    assert code == 2 and "did you mean `hibernation`" in err
    code, out, _ = run(capsys, "rule", "Timer-Blocks-Hibernation")
    assert code == 0 and out.startswith("# timer-blocks-hibernation")
    code, _, err = run(capsys, "rule", "timer-block-hibernation")
    assert code == 2 and "did you mean `timer-blocks-hibernation`" in err


def test_per_file_ignores(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {
            **TIMER,
            "src/legacy/old.ts": TIMER_TS,
            "durable-harden.jsonc": '{ "perFileIgnores": { "src/legacy/**": ["hibernation"] } }',
        },
    )
    code, out, _ = run(capsys, "check", "--output-format", "json", str(root))
    assert code == 1 and codes(out) == [("index.ts", "timer-blocks-hibernation")]
    _code, out, _ = run(capsys, "check", "--show-settings", str(root / "src/legacy/old.ts"))
    shown = json.loads(out)
    assert "timer-blocks-hibernation" in shown["ignore"]
    assert shown["settingsFile"] == str(root / "durable-harden.jsonc")


def test_rules_lists_groups_and_json(capsys):
    code, out, _ = run(capsys, "rules")
    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["rule", "group", "severity", "fix", "title"]
    assert any(line.split()[:2] == ["syntax-error", "general"] for line in out.splitlines())
    _code, out, _ = run(capsys, "rules", "--output-format", "json")
    items = json.loads(out)
    by_id = {i["code"]: i for i in items}
    assert by_id["sql-missing-index"]["group"] == "sql"
    assert by_id["sql-missing-index"]["fixable"] is True
    assert by_id["global-singleton"]["fixable"] is False
    assert "No automatic fix. Choosing a shard key" in by_id["global-singleton"]["explanation"]
    assert "### index for the query (safe or unsafe)" in by_id["sql-missing-index"]["explanation"]
    assert set(items[0]) == {"code", "name", "group", "severity", "fixable", "url", "explanation"}


# -- 8. the extra flags -------------------------------------------------------------------------


def test_statistics(tmp_path, capsys):
    root = write_tree(tmp_path, {**TIMER, "src/more.ts": TIMER_TS, "src/b.ts": "export const = ;"})
    code, out, _ = run(capsys, "check", "--statistics", str(root))
    assert code == 1
    lines = out.splitlines()
    rows = [[cell.strip() for cell in line.split("\t")] for line in lines]
    assert rows[0][:2] == ["2", "timer-blocks-hibernation"]
    assert rows[1][:2] == ["1", "syntax-error"]
    code, out, _ = run(capsys, "check", "--statistics", "--output-format", "json", str(root))
    assert json.loads(out)[0] == {
        "code": "timer-blocks-hibernation",
        "name": "A timer keeps the Durable Object from hibernating",
        "count": 2,
        "fixable": False,
    }


def test_show_fixes_quiet_output_file_and_fail_level(tmp_path, capsys):
    root = write_tree(tmp_path / "p", TIMER)
    code, out, _ = run(capsys, "check", "--show-fixes", str(root))
    assert "fix (unsafe): Replace `setInterval` with an alarm" in out
    code, out, _ = run(capsys, "check", "--quiet", str(root))
    assert "timer-blocks-hibernation" in out and "Found" not in out and "Checked" not in out
    report = tmp_path / "out" / "report.json"
    code, out, _ = run(capsys, "check", "--output-format", "json", "-o", str(report), str(root))
    assert code == 1 and out == "" and json.loads(report.read_text())[0]["code"]
    # warnings fail by default; --fail-level error lets them pass, but they are still shown
    code, out, _ = run(capsys, "check", "--fail-level", "error", str(root))
    assert code == 0 and "timer-blocks-hibernation" in out
    code, out, _ = run(capsys, "check", "--fail-level", "warning", str(root))
    assert code == 1


def test_fix_show_fixes_lists_what_was_fixed(tmp_path, capsys):
    root = write_tree(tmp_path, TIMER)
    code, _, err = run(
        capsys,
        "check",
        "--fix",
        "--unsafe-fixes",
        "--show-fixes",
        "--fail-level",
        "warning",
        str(root),
    )
    assert code == 0  # what is left is an info finding (alarm-retry-suppressed on the new alarm)
    assert "Fixed 1 finding:" in err
    assert (
        "- src/index.ts:" in err.replace(str(root) + "/", "")
        and "1 × timer-blocks-hibernation" in err
    )


def test_stdin_with_a_filename(tmp_path):
    root = write_tree(tmp_path, {"wrangler.jsonc": WRANGLER, "src/index.ts": "export {};\n"})
    result = cli(
        "check",
        "--output-format",
        "json",
        "-",
        "--stdin-filename",
        str(root / "src/index.ts"),
        stdin=TIMER_TS,
    )
    assert result.returncode == 1, result.stderr
    (item,) = json.loads(result.stdout)
    assert item["code"] == "timer-blocks-hibernation"
    assert item["filename"] == str(root / "src/index.ts")
    assert item["location"]["row"] == 5
    # the file on disk was neither read for the findings nor touched
    assert (root / "src/index.ts").read_text() == "export {};\n"
    # a file not yet saved: its folder's project gives the context
    result = cli(
        "check",
        "--output-format",
        "json",
        "--stdin-filename",
        str(root / "src/new.ts"),
        stdin=TIMER_TS,
    )
    assert [i["filename"] for i in json.loads(result.stdout)] == [str(root / "src/new.ts")]
    assert not (root / "src/new.ts").exists()
    result = cli("check", "-")
    assert result.returncode == 2 and "--stdin-filename" in result.stderr


def test_watch_checks_again_on_change(tmp_path):
    root = write_tree(tmp_path, TIMER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "durable_harden", "check", "--watch", "--quiet", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None

        def wait_for(stream, text: str) -> str:
            seen = ""
            for line in stream:
                seen += line
                if text in line:
                    return seen
            raise AssertionError(f"{text!r} never came; got {seen!r}")

        wait_for(proc.stderr, "Watching for file changes.")
        assert "timer-blocks-hibernation" in wait_for(proc.stdout, "timer-blocks-hibernation")
        (root / "src/index.ts").write_text(TIMER_TS.replace("setInterval", "setTimeout"))
        wait_for(proc.stderr, "Checking...")
        wait_for(proc.stderr, "Watching for file changes.")
        assert "setTimeout" in wait_for(proc.stdout, "timer-blocks-hibernation")
    finally:
        proc.send_signal(2)  # SIGINT: Ctrl-C
        try:
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0


# -- 11. progress on a terminal only ------------------------------------------------------------


def on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess, bytes]:
    """Run the CLI with stderr on a pseudo-terminal; returns the process and what it showed."""
    import pty

    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "durable_harden", *args],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=120,
        )
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    return proc, shown


def test_progress_only_on_a_terminal(tmp_path):
    root = write_tree(tmp_path, TIMER)
    piped = cli("check", str(root))
    assert "\r" not in piped.stderr and "parsed" not in piped.stderr
    proc, shown = on_a_terminal("check", str(root))
    assert proc.returncode == 1
    assert b"\rdurable-harden: parsed 1/1 files" in shown
    assert b"running the rules" in shown
    assert b"durable-harden: parsed" not in proc.stdout  # the report stays clean


# -- 5. harden writes scaffolding only where a pattern needs a runtime test ---------------------

INDEX_TS = """
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, day TEXT)");
  }
  count(day: string) {
    return this.ctx.storage.sql.exec("SELECT COUNT(*) AS n FROM hits WHERE day = ?", day).one().n;
  }
}
export default { fetch() { return new Response("ok"); } };
"""


def test_safe_index_fix_gets_no_scaffolding(tmp_path, capsys):
    root = write_tree(
        tmp_path,
        {
            "wrangler.jsonc": WRANGLER.replace('"ROOM"', '"COUNTER"').replace("Room", "Counter"),
            "src/index.ts": INDEX_TS,
            "package.json": '{ "name": "ix", "private": true }\n',
        },
    )
    code, out, _ = run(capsys, "harden", "--yes", str(root))
    assert code == 0, out
    assert "CREATE INDEX" in (root / "src/index.ts").read_text()
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "package.json",
        "src/index.ts",
        "wrangler.jsonc",
    ]
    assert (root / "package.json").read_text() == '{ "name": "ix", "private": true }\n'
    assert "need no runtime test" in out


def test_no_tests_turns_scaffolding_off(tmp_path, capsys):
    with_tests = write_tree(tmp_path / "a", TIMER)
    code, out, _ = run(capsys, "harden", "--yes", "--unsafe-fixes", str(with_tests))
    assert (with_tests / "test/durable-harden/room.test.ts").is_file(), out
    assert (with_tests / "vitest.config.ts").is_file()
    without = write_tree(tmp_path / "b", TIMER)
    code, out, _ = run(capsys, "harden", "--yes", "--unsafe-fixes", "--no-tests", str(without))
    assert code in (0, 1), out  # 1 when findings the fixes cannot address remain
    assert "setInterval" not in (without / "src/index.ts").read_text()  # the fix is applied
    assert not (without / "test").exists() and not (without / "vitest.config.ts").exists()
    assert not (without / "README.md").exists() and not (without / "package.json").exists()


def test_help_shows_the_options():
    top = cli("--help")
    assert top.returncode == 0
    check = cli("check", "--help")
    assert check.returncode == 0
    for flag in (
        "--select",
        "--extend-select",
        "--ignore",
        "--config",
        "--exclude",
        "--stdin-filename",
        "--show-files",
        "--show-settings",
        "--watch",
        "--fix",
        "--unsafe-fixes",
        "--show-fixes",
        "--add-ignore",
        "--reason",
        "--output-file",
        "--statistics",
        "--quiet",
        "--fail-level",
        "--exit-zero",
    ):
        assert flag in check.stdout, flag
        assert flag in top.stdout, flag
    assert "junit" in check.stdout and "gitlab" in check.stdout
    readme = (ROOT / "README.md").read_text()
    for flag in (
        "--add-ignore",
        "--statistics",
        "--fail-level",
        "--show-settings",
        "--watch",
        "--stdin-filename",
        "--extend-select",
        "--config",
        "--no-tests",
        "junit",
    ):
        assert flag in readme, flag
    assert "--no-tests" in cli("harden", "--help").stdout


def test_harden_shows_its_rounds_on_a_terminal(tmp_path):
    root = write_tree(tmp_path, TIMER)
    proc, shown = on_a_terminal("harden", "--diff", "--unsafe-fixes", str(root))
    assert b"\rdurable-harden: round 1: analysing" in shown
    assert b"round" not in proc.stdout
    piped = cli("harden", "--diff", "--unsafe-fixes", str(root))
    assert "round 1" not in piped.stderr and "\r" not in piped.stderr
