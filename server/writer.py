"""Putting a change set on disk, safely: atomic writes inside one root, and unified diffs.

A write goes to a temporary file in the target's own folder and is then renamed over the
target (`os.replace`), so a reader never sees half a file and a crash leaves the old file intact.
Every path is checked against the root first: nothing outside it is ever written.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path


class OutsideRoot(ValueError):
    """A change set tried to write a file outside the folder it was given."""


def inside(root: Path, path: Path) -> bool:
    root = root.resolve()
    target = path.resolve() if path.exists() else _resolve_missing(path)
    return target == root or root in target.parents


def _resolve_missing(path: Path) -> Path:
    # resolve the nearest existing ancestor (symlinks included), then add the rest back
    missing: list[str] = []
    current = path.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current.name)
        current = current.parent
    resolved = current.resolve()
    for name in reversed(missing):
        resolved = resolved / name
    return resolved


def check_paths(root: Path, paths: Iterable[Path]) -> None:
    bad = sorted(str(p) for p in paths if not inside(root, p) or ".." in Path(p).parts)
    if bad:
        raise OutsideRoot(f"refusing to write outside {root}: {', '.join(bad)}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = None
    with contextlib.suppress(FileNotFoundError):
        mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif data.startswith(b"#!"):
            os.chmod(tmp, 0o755)  # a new script is meant to be run
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_all(root: Path, files: Mapping[Path, bytes]) -> list[Path]:
    """Write every file (all paths are checked before the first write). Returns what changed."""
    check_paths(root, files)
    written: list[Path] = []
    for path in sorted(files, key=str):
        data = files[path]
        try:
            if path.read_bytes() == data:
                continue
        except FileNotFoundError:
            pass
        write_atomic(path, data)
        written.append(path)
    return written


def _label(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def unified_diff(root: Path, path: Path, before: bytes | None, after: bytes) -> str:
    """A git-style unified diff of one file; `before` None for a new file."""
    name = _label(root, path)
    old_lines = (before or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    new_lines = after.decode("utf-8", errors="replace").splitlines(keepends=True)
    lines = list(
        difflib.unified_diff(
            old_lines,
            new_lines,
            fromfile="/dev/null" if before is None else f"a/{name}",
            tofile=f"b/{name}",
            n=3,
        )
    )
    out: list[str] = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def render_diff(root: Path, changes: Mapping[Path, tuple[bytes | None, bytes]]) -> str:
    """Diffs of every changed file, in path order."""
    return "".join(
        unified_diff(root, path, before, after)
        for path, (before, after) in sorted(changes.items(), key=lambda item: str(item[0]))
        if before != after
    )
