"""Putting a change set on disk, safely: atomic writes inside one root, and unified diffs.

A write goes to a temporary file in the target's own folder and is then renamed over the
target (`os.replace`), so a reader never sees half a file and a crash leaves the old file intact.
A change set is written all or nothing (docs/security.md):
1. every path is checked against the root: nothing outside it is ever written;
2. every target is checked before the first write: still what the analysis read (a file deleted,
   created or edited since is reported, never re-created or overwritten), a regular file, and
   writable (the file and the folder its temporary file goes to);
3. the files are written; when one write fails, the ones already written get their old bytes
   back (new files and the folders made for them are removed) and the error is reported.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path


class WriteError(Exception):
    """A change set that was not written (nothing of it is on disk). The message says why."""


class OutsideRoot(WriteError, ValueError):
    """A change set tried to write a file outside the folder it was given."""


class StaleOrUnwritable(WriteError):
    """A target changed since the analysis, or cannot be written: nothing was written."""


class WriteFailed(WriteError):
    """A write failed midway; what had been written was rolled back."""


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


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _preflight(
    root: Path, files: Mapping[Path, bytes], expected: Mapping[Path, bytes | None]
) -> None:
    problems: list[str] = []
    for path in sorted(files, key=str):
        label = _label(root, path)
        folder = _nearest_existing(path.parent)
        if not folder.is_dir():
            problems.append(f"{label}: {_label(root, folder)} is not a folder")
            continue
        if path.is_symlink() or (path.exists() and not path.is_file()):
            problems.append(f"{label}: not a regular file")
            continue
        try:
            now = _current(path)
        except OSError as exc:
            problems.append(f"{label}: cannot be read ({exc.strerror or exc})")
            continue
        if path in expected and now != expected[path]:
            before = expected[path]
            if before is None:
                problems.append(f"{label}: created since the analysis")
            elif now is None:
                problems.append(f"{label}: deleted since the analysis")
            else:
                problems.append(f"{label}: changed since the analysis")
            continue
        if now == files[path]:
            continue  # nothing to write
        if not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"{label}: folder {_label(root, folder)} is not writable")
        elif now is not None and not os.access(path, os.W_OK):
            problems.append(f"{label}: file is read-only")
    if problems:
        raise StaleOrUnwritable(
            "nothing was written: " + "; ".join(problems) + " (run the analysis again)"
        )


def write_all(
    root: Path, files: Mapping[Path, bytes], expected: Mapping[Path, bytes | None] | None = None
) -> list[Path]:
    """Write every file, all or nothing. `expected`: what the analysis read of each target (None:
    the file did not exist); a target that no longer holds it is not written. Returns what
    changed. Raises a WriteError (nothing written, or everything rolled back) with the reason."""
    check_paths(root, files)
    _preflight(root, files, expected or {})
    written: list[tuple[Path, bytes | None, int | None]] = []  # path, old bytes, old mode
    made: list[Path] = []  # folders created for new files, outermost last
    try:
        for path in sorted(files, key=str):
            data = files[path]
            old = _current(path)
            if old == data:
                continue
            mode = path.stat().st_mode & 0o7777 if old is not None else None
            folder = path.parent
            missing = []
            while not folder.exists():
                missing.append(folder)
                folder = folder.parent
            write_atomic(path, data)
            made.extend(reversed(missing))
            written.append((path, old, mode))
    except OSError as exc:
        failed = _label(root, path)
        undone = _roll_back(written, made)
        raise WriteFailed(
            f"writing {failed} failed ({exc.strerror or exc}); "
            + (
                f"the {len(written)} file(s) already written were restored, nothing changed"
                if not undone
                else "could not restore: " + ", ".join(_label(root, p) for p in undone)
            )
        ) from exc
    return [path for path, _old, _mode in written]


def _roll_back(
    written: list[tuple[Path, bytes | None, int | None]], made: list[Path]
) -> list[Path]:
    """Put back the old bytes of what was written; returns the paths that could not be."""
    failed: list[Path] = []
    for path, old, mode in reversed(written):
        try:
            if old is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, old)
                if mode is not None:
                    os.chmod(path, mode)
        except OSError:
            failed.append(path)
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
    return failed


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
