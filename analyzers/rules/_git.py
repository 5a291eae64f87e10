"""The committed version of a file, for rules that compare the working tree with git HEAD.

No git, not a repository, or a file git does not track: None (rules then report nothing).

Cached: `git show HEAD:<path>` costs a subprocess (~5 ms), and the language server analyses on
every keystroke. The answer is a pure function of (repository, HEAD commit id, path), so that is
the cache key. The repository is found by walking up to the nearest `.git` (a folder, or a file
`gitdir: …` in worktrees and submodules) and the HEAD commit id is read from the git files
(`HEAD`, the ref file, `packed-refs`), a few small reads per call: a commit, checkout, reset or
amend changes the id and so misses the cache. When the files cannot answer (reftable refs, an
unusual layout, `GIT_DIR` set in the environment) one `git rev-parse` gives the id.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import OrderedDict
from functools import cache
from pathlib import Path

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_CACHE_LIMIT = 512
# (work tree top, HEAD commit id, path relative to the top) -> committed bytes (None: untracked)
_shown: OrderedDict[tuple[Path, str, str], bytes | None] = OrderedDict()


@cache
def _git() -> str | None:
    return shutil.which("git")


def clear_cache() -> None:
    _shown.clear()


def _git_dir(top: Path) -> Path | None:
    """The git directory of a work tree top (`.git`, or where a `.git` file points)."""
    dot = top / ".git"
    if dot.is_dir():
        return dot
    try:
        text = dot.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    return (top / target).resolve() if not target.is_absolute() else target


def find_top(path: Path) -> Path | None:
    """The nearest folder above `path` holding `.git` (the work tree top), without git."""
    for folder in path.parents:
        if (folder / ".git").exists():
            return folder
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def head_commit_from_files(git_dir: Path) -> str | None:
    """HEAD's commit id read from the git files; None when they do not say it plainly."""
    head = _read(git_dir / "HEAD")
    if head is None:
        return None
    if _SHA.fullmatch(head):
        return head  # detached HEAD
    if not head.startswith("ref: "):
        return None
    ref = head[len("ref: ") :].strip()
    common = git_dir
    pointer = _read(git_dir / "commondir")  # linked worktrees share the main refs
    if pointer:
        common = (git_dir / pointer).resolve()
    for base in (git_dir, common):
        value = _read(base / ref)
        if value is not None and _SHA.fullmatch(value):
            return value
    packed = _read(common / "packed-refs")
    if packed is not None:
        for line in packed.splitlines():
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1] == ref and _SHA.fullmatch(parts[0]):
                return parts[0]
    return None


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def _head_commit(git: str, top: Path) -> str | None:
    git_dir = _git_dir(top)
    commit = head_commit_from_files(git_dir) if git_dir is not None else None
    if commit is not None:
        return commit
    done = _run([git, "rev-parse", "--verify", "-q", "HEAD"], top)
    if done is None or done.returncode != 0:
        return None  # no commit yet: nothing is committed
    value = done.stdout.decode(errors="replace").strip()
    return value or None


def _head_version_uncached(git: str, path: Path) -> bytes | None:
    """The original way, for set-ups the file reading does not understand (GIT_DIR …)."""
    top = _run([git, "rev-parse", "--show-toplevel"], path.parent)
    if top is None or top.returncode != 0:
        return None
    try:
        root = Path(top.stdout.decode().strip()).resolve()
        rel = path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None
    shown = _run([git, "show", f"HEAD:{rel}"], root)
    return shown.stdout if shown is not None and shown.returncode == 0 else None


def head_version(path: Path) -> bytes | None:
    git = _git()
    if git is None:
        return None
    if "GIT_DIR" in os.environ or "GIT_WORK_TREE" in os.environ:
        return _head_version_uncached(git, path)
    resolved = path.resolve()
    top = find_top(resolved)
    if top is None:
        return None
    commit = _head_commit(git, top)
    if commit is None:
        return None
    rel = resolved.relative_to(top).as_posix()
    key = (top, commit, rel)
    if key in _shown:
        _shown.move_to_end(key)
        return _shown[key]
    shown = _run([git, "show", f"HEAD:{rel}"], top)
    if shown is None:
        return None  # a failed run (timeout) is not remembered
    data = shown.stdout if shown.returncode == 0 else None
    _shown[key] = data
    if len(_shown) > _CACHE_LIMIT:
        _shown.popitem(last=False)
    return data
