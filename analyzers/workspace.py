"""Finding the files of a workspace: sources and wrangler configs, honouring .gitignore."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from durable_harden.analyzers.source import language_for
from durable_harden.analyzers.wrangler import CONFIG_NAMES

SKIPPED_DIRS = frozenset(
    {
        "node_modules",
        "dist",
        ".wrangler",
        ".git",
        ".hg",
        ".svn",
        "build",
        "coverage",
        ".turbo",
        ".next",
        ".venv",
        "__pycache__",
    }
)


@dataclass
class Discovery:
    sources: list[Path] = field(default_factory=list)
    configs: list[Path] = field(default_factory=list)


def _gitignore(folder: Path) -> pathspec.PathSpec | None:
    path = folder / ".gitignore"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.PathSpec.from_lines("gitignore", lines)


def resolve_given(path: Path) -> Path:
    """`path.resolve()`, or the absolute path when a symbolic link loop makes resolving
    impossible (Python raises RuntimeError or OSError for `ln -s a a`): such a path does not
    exist, and the caller reports it as missing."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()


MISSING = "no such file or folder"


def missing_message(path: Path) -> str:
    if path.is_symlink():
        return f"a symbolic link that loops or leads nowhere: {MISSING}"
    return MISSING


def discover(paths: list[Path], exclude: list[str] | None = None) -> Discovery:
    """Sources and configs under each path (a file is taken as given, even if ignored)."""
    found = Discovery()
    excluded = pathspec.PathSpec.from_lines("gitignore", exclude or [])
    seen: set[Path] = set()
    for given in paths:
        given = resolve_given(given)
        if given.is_file():
            _add(found, given, seen, explicit=True)
            continue
        ignores: list[tuple[Path, pathspec.PathSpec]] = []
        for dirpath, dirnames, filenames in os.walk(given):
            folder = Path(dirpath)
            spec = _gitignore(folder)
            if spec is not None:
                ignores.append((folder, spec))
            active = [(base, s) for base, s in ignores if folder == base or base in folder.parents]

            def ignored(
                path: Path,
                is_dir: bool,
                active: list[tuple[Path, pathspec.PathSpec]] = active,
                given: Path = given,
            ) -> bool:
                rel_root = path.relative_to(given).as_posix() + ("/" if is_dir else "")
                if excluded.match_file(rel_root):
                    return True
                for base, s in active:
                    rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
                    if s.match_file(rel):
                        return True
                return False

            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in SKIPPED_DIRS and not d.startswith(".") and not ignored(folder / d, True)
            )
            for name in sorted(filenames):
                path = folder / name
                if ignored(path, False):
                    continue
                _add(found, path, seen, explicit=False)
    return found


def _add(found: Discovery, path: Path, seen: set[Path], explicit: bool) -> None:
    if path in seen:
        return
    seen.add(path)
    if path.name in CONFIG_NAMES:
        found.configs.append(path)
    elif language_for(path) is not None:
        found.sources.append(path)
    elif explicit:
        found.sources.append(path)  # the caller asked for it: report why we cannot read it
