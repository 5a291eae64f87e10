"""Where a path's project starts: its nearest wrangler project folder.

Kept free of the analysis (only `os`/`pathlib`): a warm `check` answers from its on-disk cache
(server/check_cache.py) after finding the project root, before importing any analyzer.
"""

from __future__ import annotations

from pathlib import Path

# wrangler looks for these in this order
CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")


def resolve_given(path: Path) -> Path:
    """`path.resolve()`, or the absolute path when a symbolic link loop makes resolving
    impossible (Python raises RuntimeError or OSError for `ln -s a a`): such a path does not
    exist, and the caller reports it as missing."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()


def find_configs_in(folder: Path) -> Path | None:
    """The wrangler config of one folder, in wrangler's own order of preference."""
    for name in CONFIG_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def context_root(path: Path, folders: dict[Path, Path] | None = None) -> Path:
    """The folder whose files give `path` its meaning: its nearest wrangler project.
    folders: answers by starting folder, for one computation that asks for many files."""
    path = resolve_given(path)
    folder = path if path.is_dir() else path.parent
    if folders is not None and folder in folders:
        return folders[folder]
    found = folder
    for candidate in (folder, *folder.parents):
        if find_configs_in(candidate) is not None:
            found = candidate
            break
        if (candidate / ".git").exists():
            break
    if folders is not None:
        folders[folder] = found
    return found
