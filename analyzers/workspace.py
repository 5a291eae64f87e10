"""Finding the files of a workspace: sources and wrangler configs, honouring git's ignore files.

What is skipped, in git's order of precedence (a later source wins, `!pattern` re-includes):
1. the global excludes file: `core.excludesFile` from the git config files (system
   `/etc/gitconfig`, then `$XDG_CONFIG_HOME/git/config` and `~/.gitconfig` or
   `$GIT_CONFIG_GLOBAL`, then the repository's own `config`), else `$XDG_CONFIG_HOME/git/ignore`
   (`~/.config/git/ignore`);
2. the repository's `.git/info/exclude`;
3. every `.gitignore` from the repository's top folder down to the file (also above the folder
   that was asked for);
4. `--exclude` patterns and settings files' `exclude`.

The config files are read, git is never run. Folders in DEFAULT_SKIPPED (dependencies, build
outputs, tool caches) and every folder whose name starts with `.` are skipped as well unless
given explicitly; `Discovery.skipped` lists the ones met, for `check --show-files`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_harden.analyzers.roots import resolve_given
from durable_harden.analyzers.source import language_for
from durable_harden.analyzers.wrangler import is_config_name

DEFAULT_SKIPPED = frozenset(
    {
        "node_modules",
        "dist",
        "build",
        "coverage",
        "__pycache__",
    }
)


@dataclass
class Discovery:
    sources: list[Path] = field(default_factory=list)
    configs: list[Path] = field(default_factory=list)
    # folders left out by the defaults (not by an ignore file), for `--show-files`
    skipped: list[Path] = field(default_factory=list)


def default_skipped(name: str) -> bool:
    return name in DEFAULT_SKIPPED or name.startswith(".")


if TYPE_CHECKING:
    import pathspec


def gitignore_spec(lines: list[str]) -> pathspec.GitIgnoreSpec:
    # pathspec costs ~55 ms to import: only a run that meets a .gitignore or an exclude pays it
    return _pathspec().GitIgnoreSpec.from_lines(lines)


def _pathspec() -> Any:
    """pathspec, imported without `typing_extensions` when nothing has imported that yet.

    On Python < 3.13 pathspec (1.x) takes its `@deprecated` decorator from typing_extensions
    when it is installed (mypy and many tools install it), and typing_extensions' decorator
    imports `asyncio` to wrap the first deprecated function: ~25 ms of the ~37 ms that importing
    pathspec cost a `check` of a project in a git repository (issue 14). pathspec declares no
    dependency and has its own fallback for that case (a decorator that warns the same way, and
    a no-op `@override`); it is used for the length of pathspec's import by hiding a
    typing_extensions that is not imported yet (a `None` entry in `sys.modules` makes its
    import fail), removed again afterwards, so a later `import typing_extensions` loads it as
    usual. Where typing_extensions is already loaded (the language server) nothing changes.
    We never call pathspec's deprecated functions (tests/test_speed_startup.py).
    Only while this is the program's one thread (another thread importing typing_extensions
    meanwhile would fail), and a pathspec that cannot import without typing_extensions (a later
    release) is imported again as usual."""
    if "pathspec" in sys.modules:
        return sys.modules["pathspec"]
    threading = sys.modules.get("threading")
    alone = threading is None or threading.active_count() == 1
    if alone and "typing_extensions" not in sys.modules:
        sys.modules["typing_extensions"] = None  # type: ignore[assignment]
        try:
            import pathspec

            return pathspec
        except ImportError:
            for name in [m for m in sys.modules if m == "pathspec" or m.startswith("pathspec.")]:
                del sys.modules[name]  # half-imported without it: imported again below
        finally:
            if sys.modules.get("typing_extensions", 0) is None:
                del sys.modules["typing_extensions"]
    import pathspec

    return pathspec


def _spec(path: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if not any(line.strip() and not line.startswith("#") for line in lines):
        return None  # comments only (git init's info/exclude): nothing to match
    return gitignore_spec(lines)


def repository_top(folder: Path) -> Path | None:
    """The nearest folder at or above `folder` holding `.git` (a folder, or a file for
    worktrees and submodules)."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def git_dirs(top: Path) -> tuple[Path | None, Path | None]:
    """(the repository's git dir, its common dir): `.git` itself, or where a `.git` file's
    `gitdir:` points (a worktree's `commondir` names the shared one)."""
    dot_git = top / ".git"
    if dot_git.is_dir():
        return dot_git, dot_git
    try:
        text = dot_git.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    for line in text.splitlines():
        if line.startswith("gitdir:"):
            git_dir = (top / line.split(":", 1)[1].strip()).resolve()
            common = git_dir
            with contextlib.suppress(OSError):
                common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
            return git_dir, common
    return None, None


def _config_value(path: Path, section: str, key: str) -> str | None:
    """The last `key` in `[section]` of a git config file (a small reader: sections, comments,
    quoted values; includes are not followed)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    current = ""
    value: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = line[1:].split("]", 1)[0].strip().split()[0].lower() if "]" in line else ""
            continue
        if current != section or "=" not in line:
            continue
        name, _, rest = line.partition("=")
        if name.strip().lower() != key:
            continue
        rest = rest.strip()
        if rest.startswith('"'):
            rest = rest[1:].split('"', 1)[0]
        else:
            for mark in (" #", " ;", "\t#", "\t;"):
                rest = rest.split(mark, 1)[0]
        value = rest.strip()
    return value


def global_excludes_file(common_dir: Path | None = None) -> Path | None:
    """Where git reads the user's global ignore patterns from (the file may not exist)."""
    home = Path(os.environ.get("HOME") or Path.home())
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    global_configs = (
        [Path(os.environ["GIT_CONFIG_GLOBAL"])]
        if os.environ.get("GIT_CONFIG_GLOBAL")
        else [xdg / "git" / "config", home / ".gitconfig"]
    )
    configs = [Path("/etc/gitconfig"), *global_configs]
    if common_dir is not None:
        configs.append(common_dir / "config")
    value: str | None = None
    for config in configs:
        found = _config_value(config, "core", "excludesfile")
        if found is not None:
            value = found
    if value:
        if value.startswith("~/"):
            return home / value[2:]
        return Path(value)
    return xdg / "git" / "ignore"


@dataclass
class _Ignores:
    """Ignore specs in precedence order, each with the folder its patterns are relative to."""

    specs: list[tuple[Path, pathspec.GitIgnoreSpec]] = field(default_factory=list)

    def ignored(self, path: Path, is_dir: bool) -> bool:
        verdict = False
        text = str(path)
        for base, spec in self.specs:
            # `base` a folder strictly above `path` (both absolute, normalised): on strings
            prefix = str(base).rstrip(os.sep) + os.sep
            if not text.startswith(prefix) or len(text) == len(prefix):
                continue
            rel = text[len(prefix) :].replace(os.sep, "/") + ("/" if is_dir else "")
            result = spec.check_file(rel)
            if result.include is not None:
                verdict = bool(result.include)
        return verdict


def _repository_ignores(given: Path) -> _Ignores:
    """The ignore files that apply to `given` from outside it: global, info/exclude and the
    .gitignore files of the folders between the repository's top and `given`."""
    ignores = _Ignores()
    top = repository_top(given)
    if top is None:
        return ignores
    _, common = git_dirs(top)
    excludes = global_excludes_file(common)
    for path in (excludes, common / "info" / "exclude" if common else None):
        spec = _spec(path) if path is not None else None
        if spec is not None:
            ignores.specs.append((top, spec))
    chain = [given, *given.parents]
    for folder in reversed(chain[1 : chain.index(top) + 1] if top in chain else []):
        spec = _spec(folder / ".gitignore")
        if spec is not None:
            ignores.specs.append((folder, spec))
    return ignores


MISSING = "no such file or folder"


def missing_message(path: Path) -> str:
    if path.is_symlink():
        return f"a symbolic link that loops or leads nowhere: {MISSING}"
    return MISSING


def discover(paths: list[Path], exclude: list[str] | None = None) -> Discovery:
    """Sources and configs under each path (a file is taken as given, even if ignored).

    The walk works on strings (os.walk's, all under one resolved folder) and makes a Path only
    for what it keeps: a file that is neither a source nor a config is passed over before any
    ignore pattern is matched (it would not be added anyway), and a folder's `.gitignore` is
    read only when the folder lists one (pathlib's objects were most of the walk's time, issue
    14)."""
    found = Discovery()
    excluded = gitignore_spec(exclude) if exclude else None
    seen: set[Path] = set()
    # files walked that are neither sources nor configs (not matched against the ignore
    # patterns then): their ignores and path relative to the walked folder, asked only if one
    # is given explicitly later (a file walked and not ignored was `seen`: not added again)
    passed_over: dict[str, tuple[_Ignores, str]] = {}
    for given in paths:
        given = resolve_given(given)
        if given.is_file():
            walked = passed_over.get(str(given))
            if walked is None or _ignored(
                excluded, walked[0], given.parent, walked[1], given.name, False
            ):
                _add(found, given, seen, explicit=True)
            continue
        inherited = _repository_ignores(given)
        top = str(given)
        for dirpath, dirnames, filenames in os.walk(top):
            folder = Path(dirpath)
            # the folder relative to `given`, as git patterns see it ("" for `given` itself)
            rel_folder = "" if dirpath == top else dirpath[len(top) :].lstrip(os.sep) + "/"
            if os.sep != "/":
                rel_folder = rel_folder.replace(os.sep, "/")
            if ".gitignore" in filenames:
                spec = _spec(folder / ".gitignore")
                if spec is not None:
                    inherited.specs.append((folder, spec))
            kept = []
            for name in sorted(dirnames):
                if _ignored(excluded, inherited, folder, rel_folder, name, True):
                    continue
                if default_skipped(name):
                    found.skipped.append(folder / name)
                    continue
                kept.append(name)
            dirnames[:] = kept
            for name in sorted(filenames):
                if not (is_config_name(name) or language_for(name) is not None):
                    # _add would pass it over
                    passed_over[os.path.join(dirpath, name)] = (inherited, rel_folder)
                    continue
                if _ignored(excluded, inherited, folder, rel_folder, name, False):
                    continue
                _add(found, folder / name, seen, explicit=False)
    return found


def _ignored(
    excluded: pathspec.GitIgnoreSpec | None,
    inherited: _Ignores,
    folder: Path,
    rel_folder: str,
    name: str,
    is_dir: bool,
) -> bool:
    """Is `folder/name` left out by `--exclude`/settings patterns (matched relative to the
    walked folder: `rel_folder` is the folder's path there, "" or ending in "/") or by the ignore
    files that apply to it?"""
    rel_root = rel_folder + name + ("/" if is_dir else "")
    return (excluded is not None and excluded.match_file(rel_root)) or (
        bool(inherited.specs) and inherited.ignored(folder / name, is_dir)
    )


def _add(found: Discovery, path: Path, seen: set[Path], explicit: bool) -> None:
    if path in seen:
        return
    seen.add(path)
    if is_config_name(path.name):
        found.configs.append(path)
    elif language_for(path) is not None:
        found.sources.append(path)
    elif explicit:
        found.sources.append(path)  # the caller asked for it: report why we cannot read it
