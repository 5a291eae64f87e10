"""Caches added for speed (docs/performance.md): each gives the same answer as computing afresh,
is reused while its inputs are unchanged (asserted by identity or by counting the work done, never
by timing) and is dropped when an input changes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from durable_harden.analyzers.model import build_model
from durable_harden.analyzers.rules import _git
from durable_harden.analyzers.rules._bindings import (
    accesses_to,
    all_stub_calls,
    classes_of_access,
    stub_calls,
)
from durable_harden.analyzers.rules._sqlexec import tokens
from durable_harden.analyzers.sql import count_placeholders, split_statements, sql_tokens
from durable_harden.analyzers.workspace import discover

ROOT = Path(__file__).resolve().parent.parent
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def _git_run(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    done = subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return done.stdout.decode().strip()


# -- SQL tokens ---------------------------------------------------------------------------------


def test_sql_tokens_are_cached_by_text_and_immutable() -> None:
    text = "SELECT id FROM t WHERE a = ? AND b = ?; DELETE FROM t WHERE id = ?"
    first = sql_tokens(text)
    assert first is not None and isinstance(first, tuple)
    assert sql_tokens(text) is first
    shared = tokens(text)  # the rules' helper: its own list of the same cached tokens
    assert shared == list(first) and all(a is b for a, b in zip(shared, first, strict=True))
    assert count_placeholders(text) == 3
    semi = text.index(";")
    assert split_statements(text) == [(0, semi), (semi + 1, len(text))]
    # a different text is tokenized on its own
    other = sql_tokens(text.replace("id", "rowid"))
    assert other is not first and other is not None
    assert [t.text for t in other][1] == "rowid"


def test_split_statements_returns_a_fresh_list_each_time() -> None:
    text = "CREATE TABLE a (x); CREATE TABLE b (y)"
    ranges = split_statements(text)
    ranges.append((99, 100))  # a caller changing its copy does not change the cache
    assert split_statements(text) == [(0, 18), (19, len(text))]


# -- git HEAD ----------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git.clear_cache()
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "wrangler.toml").write_text('name = "v1"\n')
    _git_run(root, "init", "-q", "-b", "main")
    _git_run(root, "add", ".")
    _git_run(root, "commit", "-q", "-m", "one")
    return root


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = _git._committed_blob

    def counting(git_dir: Path, commit: str, rel: str) -> bytes | None:
        calls.append(rel)
        return real(git_dir, commit, rel)

    monkeypatch.setattr(_git, "_committed_blob", counting)
    return calls


@needs_git
def test_head_version_is_reused_until_head_moves(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = repo / "app" / "wrangler.toml"
    calls = _count_reads(monkeypatch)
    assert _git.head_version(path) == b'name = "v1"\n'
    assert _git.head_version(path) == b'name = "v1"\n'
    assert calls == ["app/wrangler.toml"]  # the objects are read once
    # editing the working tree does not change what HEAD holds
    path.write_text('name = "edited"\n')
    assert _git.head_version(path) == b'name = "v1"\n'
    assert len(calls) == 1
    # a commit moves HEAD: the new committed text is read
    _git_run(repo, "commit", "-q", "-am", "two")
    assert _git.head_version(path) == b'name = "edited"\n'
    assert len(calls) == 2


@needs_git
def test_head_version_follows_amend_packed_refs_detached_and_branches(repo: Path) -> None:
    path = repo / "app" / "wrangler.toml"
    first = _git_run(repo, "rev-parse", "HEAD")
    assert _git.head_version(path) == b'name = "v1"\n'
    path.write_text('name = "amended"\n')
    _git_run(repo, "commit", "-q", "--amend", "-am", "one again")
    assert _git.head_version(path) == b'name = "amended"\n'
    _git_run(repo, "pack-refs", "--all")  # the branch ref now lives in packed-refs only
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert _git.head_commit_from_files(repo / ".git") == _git_run(repo, "rev-parse", "HEAD")
    assert _git.head_version(path) == b'name = "amended"\n'
    _git_run(repo, "checkout", "-q", first)  # detached at the first commit
    assert _git.head_version(path) == b'name = "v1"\n'
    _git_run(repo, "checkout", "-q", "-b", "other")
    path.write_text('name = "other"\n')
    _git_run(repo, "commit", "-q", "-am", "on other")
    assert _git.head_version(path) == b'name = "other"\n'
    _git_run(repo, "checkout", "-q", "main")
    assert _git.head_version(path) == b'name = "amended"\n'


@needs_git
def test_head_version_untracked_file_and_no_repository(repo: Path, tmp_path: Path) -> None:
    new = repo / "app" / "new.toml"
    new.write_text("x = 1\n")
    assert _git.head_version(new) is None
    _git_run(repo, "add", "app/new.toml")
    _git_run(repo, "commit", "-q", "-m", "add")
    assert _git.head_version(new) == b"x = 1\n"
    outside = tmp_path / "plain" / "wrangler.toml"
    outside.parent.mkdir()
    outside.write_text("")
    assert _git.head_version(outside) is None


@needs_git
def test_head_version_in_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    path = repo / "app" / "wrangler.toml"
    other = tmp_path / "wt"
    _git_run(repo, "worktree", "add", "-q", "-b", "feature", str(other))
    (other / "app" / "wrangler.toml").write_text('name = "feature"\n')
    _git_run(other, "commit", "-q", "-am", "feature")
    assert _git.head_version(other / "app" / "wrangler.toml") == b'name = "feature"\n'
    assert _git.head_version(path) == b'name = "v1"\n'


# -- per-model memo ----------------------------------------------------------------------------


def _example_model(name: str = "rate-limiter"):  # type: ignore[no-untyped-def]
    found = discover([ROOT / "examples" / name])
    return build_model(ROOT / "examples" / name, found.sources, found.configs)


def test_binding_lookups_are_computed_once_per_model() -> None:
    model = _example_model()
    cls = next(c for c in model.classes if c.name == "RateLimiter")
    accesses = accesses_to(model, cls)
    assert accesses and all(a.binding == "RATE_LIMITER" for a in accesses)
    assert "accesses_by_class" in model.memo
    # answers equal the direct computation, and callers get their own lists and sets
    assert accesses == [a for a in model.namespace_accesses if a.binding == "RATE_LIMITER"]
    accesses.clear()
    assert accesses_to(model, cls)
    names = classes_of_access(model, model.namespace_accesses[0])
    names.add("Changed")
    assert "Changed" not in classes_of_access(model, model.namespace_accesses[0])
    calls = stub_calls(model, cls)
    assert [c.method for c in calls] == ["take"]
    assert model.memo["stub_calls"][cls] is not calls  # a copy of the memo
    assert [c.call for c in stub_calls(model, cls)] == [c.call for c in calls]
    assert {c.method for c in all_stub_calls(model)} >= {"take"}
    # a new model (a new analysis) starts with an empty memo
    assert _example_model().memo == {}


# -- per-file results reused between models (the language server's path) -----------------------

BASE = """import { DurableObject } from "cloudflare:workers";
import { SCHEMA, READ } from "./schema";

export class Base extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
  }
  read(id: string) {
    return this.ctx.storage.sql.exec(READ, id);
  }
}
"""
CHILD = """import { Base } from "./z_base";

export class Child extends Base {
  count() {
    return this.ctx.storage.sql.exec("SELECT count(*) FROM items").one();
  }
}

export class Plain {
  constructor(private state: unknown) {}
  go() {
    return this.state.storage.sql.exec("DELETE FROM items WHERE id = ?", 1);
  }
}
"""
SCHEMA = """export const SCHEMA = `CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, v TEXT)`;
export const READ = "SELECT v FROM items WHERE id = ?";
const MIGRATIONS = ["CREATE INDEX IF NOT EXISTS items_v ON items (v)"];
"""
WORKER = """export default {
  async fetch(request: Request, env: Env) {
    return env.BASE.getByName("a").fetch(request);
  },
};
"""
CONFIG = """{
  "name": "w", "main": "src/worker.ts", "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [ { "name": "BASE", "class_name": "Base" } ] }
}
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "w"
    _write(
        root,
        {
            "wrangler.jsonc": CONFIG,
            "src/z_base.ts": BASE,
            "src/a_child.ts": CHILD,
            "src/schema.ts": SCHEMA,
            "src/worker.ts": WORKER,
        },
    )
    return root.resolve()


def _parse_all(root: Path) -> dict[Path, object]:
    from durable_harden.analyzers.source import read_source

    return {p: read_source(p) for p in discover([root]).sources}


def _build(root: Path, parsed: dict[Path, object]):  # type: ignore[no-untyped-def]
    found = discover([root])
    return build_model(root, found.sources, found.configs, parsed=parsed)  # type: ignore[arg-type]


def _summary(model) -> tuple:  # type: ignore[no-untyped-def]
    """What the rules see of a model, as plain values (to compare cached with fresh)."""
    classes = sorted(
        (
            c.name,
            c.file.path.name,
            c.reason,
            c.node.start_byte,
            c.exported,
            tuple(sorted(c.aliases.sql)),
        )
        for c in model.classes
    )
    statements = sorted(
        (
            s.file.path.name,
            s.call_file.path.name,
            s.text,
            s.cls.name if s.cls else None,
            s.loose,
            s.offsets[0],
            s.index_in_call,
            s.bindings,
        )
        for s in model.statements
    )
    accesses = sorted(
        (a.file.path.name, a.binding, a.method, a.node.start_byte) for a in model.namespace_accesses
    )
    return classes, statements, accesses


def _fresh(root: Path):  # type: ignore[no-untyped-def]
    return _build(root, _parse_all(root))


def test_unchanged_files_reuse_their_extraction(tmp_path: Path) -> None:
    root = _project(tmp_path)
    parsed = _parse_all(root)
    first = _build(root, parsed)
    second = _build(root, dict(parsed))
    assert _summary(first) == _summary(second) == _summary(_fresh(root))
    # the same objects, not equal copies: nothing was extracted again
    assert [id(c) for c in first.classes] == [id(c) for c in second.classes]
    assert {id(s) for s in first.statements} == {id(s) for s in second.statements}
    assert [id(a) for a in first.namespace_accesses] == [id(a) for a in second.namespace_accesses]
    names = {c.name for c in first.classes}
    assert names == {"Base", "Child"}  # Plain is neither bound nor a subclass
    texts = {s.text for s in first.statements}
    assert "SELECT v FROM items WHERE id = ?" in texts  # through the imported constant
    assert any(s.loose and "CREATE INDEX" in s.text for s in first.statements)


def _reparsed(parsed: dict[Path, object], path: Path, text: str) -> dict[Path, object]:
    from durable_harden.analyzers.source import parse_source

    path.write_text(text)
    return {**parsed, path: parse_source(path, text.encode())}


def test_a_changed_file_gives_new_results_and_others_keep_theirs(tmp_path: Path) -> None:
    root = _project(tmp_path)
    parsed = _parse_all(root)
    before = _build(root, parsed)
    child = root / "src" / "a_child.ts"
    parsed = _reparsed(parsed, child, CHILD.replace("SELECT count(*)", "SELECT max(id)"))
    after = _build(root, parsed)
    assert _summary(after) == _summary(_fresh(root))
    assert any(s.text == "SELECT max(id) FROM items" for s in after.statements)
    assert not any("count(*)" in s.text for s in after.statements)
    kept = {s.text: s for s in before.statements if s.call_file.path.name == "z_base.ts"}
    for stmt in after.statements:
        if stmt.call_file.path.name == "z_base.ts":
            assert kept[stmt.text] is stmt  # the unchanged file's statements are reused


def test_an_imported_constant_changing_elsewhere_is_seen(tmp_path: Path) -> None:
    root = _project(tmp_path)
    parsed = _parse_all(root)
    _build(root, parsed)
    schema = root / "src" / "schema.ts"
    parsed = _reparsed(parsed, schema, SCHEMA.replace("SELECT v FROM", "SELECT id, v FROM"))
    after = _build(root, parsed)
    assert _summary(after) == _summary(_fresh(root))
    read = [s for s in after.statements if s.call_file.path.name == "z_base.ts" and s.bindings]
    assert [s.text for s in read] == ["SELECT id, v FROM items WHERE id = ?"]


def test_a_new_binding_or_base_class_changes_class_detection_elsewhere(tmp_path: Path) -> None:
    root = _project(tmp_path)
    parsed = _parse_all(root)
    _build(root, parsed)
    # Plain becomes a DO through a binding in the config (the source files are unchanged)
    (root / "wrangler.jsonc").write_text(
        CONFIG.replace(
            '{ "name": "BASE", "class_name": "Base" }',
            '{ "name": "BASE", "class_name": "Base" }, { "name": "P", "class_name": "Plain" }',
        )
    )
    bound = _build(root, parsed)
    assert _summary(bound) == _summary(_fresh(root))
    plain = next(c for c in bound.classes if c.name == "Plain")
    assert plain.reason == "binding"
    assert any(s.cls is plain for s in bound.statements)
    assert any(a.binding == "BASE" for a in bound.namespace_accesses)
    # Base stops being a DO: its subclass in the other (unchanged) file stops too
    base = root / "src" / "z_base.ts"
    plain_base = BASE.replace("extends DurableObject<Env>", "extends Object")
    parsed = _reparsed(parsed, base, plain_base.replace("DurableObjectState", "unknown"))
    (root / "wrangler.jsonc").write_text(CONFIG.replace('"Base"', '"Other"'))
    gone = _build(root, parsed)
    assert _summary(gone) == _summary(_fresh(root))
    assert {c.name for c in gone.classes} == set()
    assert all(s.cls is None for s in gone.statements)


def test_node_index_lives_with_its_source_file_not_an_lru():
    """A language server keeps more files than the LRU holds: a parsed file's node index must
    not be evicted and rebuilt on every analysis."""
    from pathlib import Path

    from durable_harden.analyzers import tsutil
    from durable_harden.analyzers.source import parse_source

    files = [
        parse_source(Path(f"f{i}.ts"), f"export const v{i} = f({i});\n".encode())
        for i in range(tsutil._INDEX_LIMIT + 50)
    ]
    for file in files:
        list(tsutil.walk_type(file.root, "call_expression"))
    first = files[0]
    holder = first.memo["type_index"]
    assert tsutil._type_index(first.root) is holder
    calls = holder.nodes("call_expression")
    assert tsutil._type_index(first.root).nodes("call_expression") is calls  # not rebuilt
    assert [n.type for n in tsutil.walk_type(first.root, "call_expression")] == ["call_expression"]
