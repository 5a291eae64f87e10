"""The committed version of a file, for rules that compare the working tree with git HEAD.

Not a repository, a file git does not track, or anything the files cannot answer: None (rules
then report nothing).

Read without running git (docs/security.md): running `git show` in a repository someone else
prepared runs their code (a partial clone with `remote.origin.uploadpack` or `core.sshCommand`
set fetches a missing blob by starting that command). So the git files are read directly: HEAD
and its ref from `HEAD`, the ref file or `packed-refs`, and the objects (loose or packed, with
deltas and alternates) through dulwich's object store, which only reads files. A missing object
(a partial clone that never fetched the blob) or a layout these files do not describe (reftable
refs, `GIT_DIR` pointing elsewhere) means "unknown": None, never a fetch.

Cached: the answer is a pure function of (repository, HEAD commit id, path), so that is the cache
key. The HEAD commit id costs a few small reads per call; a commit, checkout, reset or amend
changes the id and so misses the cache.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_CACHE_LIMIT = 512
# a committed file bigger than this is "unknown" (configs are a few KB; a crafted repository
# must not make the analysis inflate a huge blob)
_MAX_BLOB = 8 * 1024 * 1024
# (work tree top, HEAD commit id, path relative to the top) -> committed bytes (None: untracked)
_shown: OrderedDict[tuple[Path, str, str], bytes | None] = OrderedDict()


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
    """The nearest folder above `path` holding `.git` (the work tree top)."""
    for folder in path.parents:
        if (folder / ".git").exists():
            return folder
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _common_dir(git_dir: Path) -> Path:
    """Where the shared refs and objects live (linked worktrees point there by `commondir`)."""
    pointer = _read(git_dir / "commondir")
    return (git_dir / pointer).resolve() if pointer else git_dir


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
    if not ref.startswith("refs/") or ".." in ref.split("/"):
        return None  # a ref never leaves the git directory
    common = _common_dir(git_dir)
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


def _committed_blob(git_dir: Path, commit_id: str, rel: str) -> bytes | None:
    """The blob at `rel` in commit `commit_id`, read from the object files only.

    Raises KeyError (or an error of a broken object file) when an object is missing or
    unreadable: the caller turns that into "unknown"."""
    # dulwich (~8 ms to import) only when a committed file is read: a check of a folder that
    # is no git repository never needs it (issue 14, start-up)
    from dulwich.object_format import SHA1, SHA256
    from dulwich.object_store import DiskObjectStore
    from dulwich.objects import Blob, Commit, ObjectID, Tree

    fmt = SHA256 if len(commit_id) == 64 else SHA1
    objects = _common_dir(git_dir) / "objects"
    if not objects.is_dir():
        return None
    store = DiskObjectStore(str(objects), object_format=fmt)
    try:
        commit = store[ObjectID(commit_id.encode())]
        if not isinstance(commit, Commit):
            return None
        tree = store[commit.tree]
        for part in rel.split("/"):
            if not isinstance(tree, Tree):
                return None
            try:
                _mode, sha = tree[part.encode("utf-8", "surrogateescape")]
            except KeyError:
                return None  # not in the commit: untracked
            tree = store[sha]
        if not isinstance(tree, Blob):
            return None
        if tree.raw_length() > _MAX_BLOB:
            raise KeyError("committed file too big")
        return tree.as_raw_string()
    finally:
        store.close()


def head_version(path: Path) -> bytes | None:
    resolved = path.resolve()
    top = find_top(resolved)
    if top is None:
        return None
    git_dir = _git_dir(top)
    if git_dir is None:
        return None
    commit = head_commit_from_files(git_dir)
    if commit is None:
        return None  # no commit yet, or refs these files do not describe: unknown
    rel = resolved.relative_to(top).as_posix()
    key = (top, commit, rel)
    if key in _shown:
        _shown.move_to_end(key)
        return _shown[key]
    try:
        data = _committed_blob(git_dir, commit, rel)
    except Exception:  # a missing (partial clone) or corrupt object: unknown, not remembered
        return None
    _shown[key] = data
    if len(_shown) > _CACHE_LIMIT:
        _shown.popitem(last=False)
    return data
