"""Caches added for speed (docs/performance.md): each gives the same answer as computing afresh,
is reused while its inputs are unchanged (asserted by identity or by counting the work done, never
by timing) and is dropped when an input changes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from analyzers.model import build_model
from analyzers.rules import _git
from analyzers.rules._bindings import accesses_to, all_stub_calls, classes_of_access, stub_calls
from analyzers.rules._sqlexec import tokens
from analyzers.sql import count_placeholders, split_statements, sql_tokens
from analyzers.workspace import discover

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


def _count_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real = _git._run

    def counting(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes] | None:
        calls.append(args[1:])
        return real(args, cwd)

    monkeypatch.setattr(_git, "_run", counting)
    return calls


@needs_git
def test_head_version_is_reused_until_head_moves(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = repo / "app" / "wrangler.toml"
    calls = _count_runs(monkeypatch)
    assert _git.head_version(path) == b'name = "v1"\n'
    assert _git.head_version(path) == b'name = "v1"\n'
    assert calls == [["show", "HEAD:app/wrangler.toml"]]  # one subprocess, no rev-parse
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
