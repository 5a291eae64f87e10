"""Project settings files: `durable-harden.jsonc`, or a `"durable-harden"` key in package.json.

The file nearest to a source file wins (monorepos keep one per package). Keys:

```jsonc
{
  "$schema": "https://raw.githubusercontent.com/durable-harden/durable-harden/main/analyzers/durable-harden.schema.json",
  "select": ["ALL"],                       // rules to run (default: every rule)
  "extendSelect": ["sql"],                 // rules to run in addition to `select`
  "ignore": ["timer-blocks-hibernation"],  // rules never to run
  "severity": { "sql-missing-index": "error", "unused-suppression": "off" },
  "unsafeFixes": false,                    // fix-all (and `check --fix`) also applies unsafe fixes
  "exclude": ["generated/**"],             // gitignore-style, relative to this file's folder
  "perFileIgnores": { "test/**": ["sql"] } // rules not to run on the files a pattern matches
}
```

A rule is named by its id, its group (`sql`, `alarm` …: `durable-harden rules`), an id prefix
(`websocket` = every `websocket-*` rule) or `ALL`, in any case. An unknown name is an error
that names the file and suggests the closest names.

Nothing here imports an LSP library; the server and the CLI both read settings through it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_harden.analyzers import safejson
from durable_harden.analyzers.analysis import Settings
from durable_harden.analyzers.findings import Severity
from durable_harden.analyzers.roots import resolve_given
from durable_harden.analyzers.rules import UnknownSelector, default_on, resolve_selectors
from durable_harden.analyzers.workspace import gitignore_spec

SETTINGS_FILE = "durable-harden.jsonc"
PACKAGE_JSON = "package.json"
PACKAGE_KEY = "durable-harden"
KEYS = ("select", "extendSelect", "ignore", "severity", "unsafeFixes", "exclude", "perFileIgnores")


class SettingsError(Exception):
    """A settings file we cannot use, with a message fit for the user."""


@dataclass
class SettingsFile:
    path: Path
    raw: dict[str, Any]  # only the keys the file sets
    warnings: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def excludes(self, path: Path) -> bool:
        """True when `path` matches one of the file's `exclude` patterns."""
        patterns = self.raw.get("exclude") or []
        if not patterns:
            return False
        try:
            rel = resolve_given(path).relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            return False
        return gitignore_spec(patterns).match_file(rel)

    def ignored_for(self, path: Path) -> list[str]:
        """Rule ids `perFileIgnores` turns off for `path` (patterns relative to this file's
        folder, gitignore-style)."""
        table: dict[str, list[str]] = self.raw.get("perFileIgnores") or {}
        if not table:
            return []
        try:
            rel = resolve_given(path).relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            return []
        ids: list[str] = []
        for pattern, rules in table.items():
            if gitignore_spec([pattern]).match_file(rel):
                ids.extend(r for r in resolve_selectors(rules) if r not in ids)
        return ids


# A file's or folder's stat signature: (mtime in ns, size, inode), None when it is missing. A
# rewrite in place changes it, unless it happens within the file system's timestamp granularity
# (up to 2 s: FAT; a jiffy on ext4) of the signature's own mtime and keeps the size: a signature
# whose mtime is that recent is not trusted (`_settled`), as git does with its index ("racy").
Stamp = tuple[int, int, int] | None
RACY_NS = 2_000_000_000


def _stamp(path: Path | str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _settled(stamp: Stamp, now_ns: int | None = None) -> bool:
    """A signature old enough that any later change of the file gives another one."""
    now = time.time_ns() if now_ns is None else now_ns
    return stamp is None or stamp[0] < now - RACY_NS


_PACKAGE_KEYS: dict[Path, tuple[Stamp, bool]] = {}


def _has_package_key(path: Path) -> bool:
    """Whether a package.json has a "durable-harden" key (cached by its stat signature: the
    server asks on every keystroke, and json5 is slow)."""
    stamp = _stamp(path)
    if stamp is None:
        return False
    cached = _PACKAGE_KEYS.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
        found = PACKAGE_KEY in text and PACKAGE_KEY in (safejson.loads5(text) or {})
    except (OSError, ValueError, UnicodeDecodeError, TypeError):
        found = False
    if _settled(stamp):
        _PACKAGE_KEYS[path] = (stamp, bool(found))
    else:  # written just now: read again next time (a same-tick rewrite keeps the mtime)
        _PACKAGE_KEYS.pop(path, None)
    return bool(found)


_UNKNOWN = object()


def find_settings_file(path: Path, folders: dict[Path, Path | None] | None = None) -> Path | None:
    """The settings file nearest to `path` (a file or folder), up to the repository root.

    folders: the answers for folders already walked (folder -> settings file), filled and read
    by one run that asks for many files at once (`check`: one walk per folder, not per file;
    the caller drops it afterwards, so a settings file created later is seen)."""
    if folders is not None:
        # a file of a folder already walked (the memo's keys are resolved folders): when the
        # file is no symbolic link, resolving it gives that folder, and the walk would start
        # and end there; one lstat instead of resolving every part of the path (~40 ms of a
        # 1,000-file check, issue 14)
        known = folders.get(path.parent, _UNKNOWN)
        if known is not _UNKNOWN:
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                mode = None
            if mode is not None and not stat.S_ISLNK(mode) and not stat.S_ISDIR(mode):
                return known  # type: ignore[return-value]
    path = resolve_given(path)  # a symbolic link that loops is a missing file, not a crash
    folder = path if path.is_dir() else path.parent
    walked: list[Path] = []
    found: Path | None = None
    for candidate in (folder, *folder.parents):
        if folders is not None and candidate in folders:
            found = folders[candidate]
            break
        walked.append(candidate)
        own = candidate / SETTINGS_FILE
        if own.is_file():
            found = own
            break
        package = candidate / PACKAGE_JSON
        if package.is_file() and _has_package_key(package):
            found = package
            break
        if (candidate / ".git").exists():
            break
    if folders is not None:
        # a walk from any folder passed on the way would have gone on to the same answer
        for candidate in walked:
            folders[candidate] = found
    return found


class SettingsLookup:
    """`find_settings_file` for the language server, which asks for every open document on
    every keystroke (a walk to the repository root, three checks per folder through pathlib:
    ~0.1 ms). Each answer is kept with what decided it, per folder walked: whether its
    settings file is a file, whether its `.git` exists, and its package.json's stat signature
    (its "durable-harden" key). The next question checks those with one `os.stat` each on
    kept strings, and walks again when one differs. A package.json written within the last
    two seconds keeps the answer from being kept (`_settled`: a rewrite within the file
    system's timestamp granularity could keep its signature), as does a path that is a
    symbolic link (resolving it is the walk's first step)."""

    MAX_PATHS = 1024

    def __init__(self) -> None:
        self.known: dict[Path, tuple[Path | None, tuple[tuple[str, int, object], ...]]] = {}

    def find(self, path: Path) -> Path | None:
        known = self.known.get(path)
        if known is not None and all(_checked(p, how) == was for p, how, was in known[1]):
            return known[0]
        self.known.pop(path, None)
        resolved = resolve_given(path)
        folder = resolved if resolved.is_dir() else resolved.parent
        # what the walk reads, before it (a change during the walk differs next time)
        watched: list[tuple[str, int, object]] = []
        for candidate in (folder, *folder.parents):
            base = os.path.join(str(candidate), "")
            for name, how in (
                (SETTINGS_FILE, _IS_FILE),
                (PACKAGE_JSON, _CONTENT),
                (".git", _EXISTS),
            ):
                watched.append((base + name, how, _checked(base + name, how)))
        found = find_settings_file(path)
        # up to the folder of the answer, or the one holding `.git`
        kept: list[tuple[str, int, object]] = []
        for at in range(0, len(watched), 3):
            kept += watched[at : at + 3]
            own, package, git = watched[at : at + 3]
            if found is not None and str(found) in (own[0], package[0]):
                break
            if found is None and git[2]:
                break
        now = time.time_ns()
        if resolved == path and all(
            how != _CONTENT or _settled(was, now)  # type: ignore[arg-type]
            for _, how, was in kept
        ):
            self.known[path] = (found, tuple(kept))
            while len(self.known) > self.MAX_PATHS:
                self.known.pop(next(iter(self.known)))
        return found

    def forget(self) -> None:
        self.known.clear()


_IS_FILE, _EXISTS, _CONTENT = 0, 1, 2


def _checked(path: str, how: int) -> object:
    """What `find_settings_file` reads of a path: whether it is a file, whether it exists, or
    its content's stat signature."""
    try:
        st = os.stat(path)
    except OSError:
        return None if how == _CONTENT else False
    if how == _IS_FILE:
        return stat.S_ISREG(st.st_mode)
    if how == _EXISTS:
        return True
    return (st.st_mtime_ns, st.st_size, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _strings(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"`{key}` must be a list of strings")
    return list(value)


def _rules(selectors: list[str], key: str) -> list[str]:
    """Selectors (ids, groups, prefixes, ALL; any case), checked; SettingsError if one names
    nothing. They are kept as written (and expanded to rule ids by `apply`)."""
    try:
        resolve_selectors(selectors)
    except UnknownSelector as exc:
        raise SettingsError(f"`{key}`: {exc}") from None
    return list(selectors)


def normalize(raw: Any, where: str = "settings") -> tuple[dict[str, Any], list[str]]:
    """Check a settings object; returns the keys it sets (validated) and warnings.

    Accepts the camelCase keys of the file and of editor settings (`unsafeFixes`), and
    `unsafe_fixes`. Raises SettingsError for values of the wrong type.
    """
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        raise SettingsError(f"{where} must be an object")
    out: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in raw.items():
        if key in ("select", "ignore", "extendSelect", "extend_select"):
            name = "extendSelect" if key == "extend_select" else key
            out[name] = _rules(_strings(value, name), name)
        elif key == "exclude":
            out[key] = _strings(value, key)
        elif key in ("perFileIgnores", "per_file_ignores"):
            if not isinstance(value, dict):
                raise SettingsError("`perFileIgnores` must map glob patterns to lists of rules")
            out["perFileIgnores"] = {
                str(pattern): _rules(_strings(rules, f"perFileIgnores.{pattern}"), "perFileIgnores")
                for pattern, rules in value.items()
            }
        elif key == "severity":
            if not isinstance(value, dict):
                raise SettingsError("`severity` must map rule ids to error|warning|info|hint|off")
            levels: dict[str, str] = {}
            for selector, level in value.items():
                if not isinstance(level, str):
                    raise SettingsError(f"`severity.{selector}` must be a string")
                if level.strip().lower() != "off":
                    try:
                        Severity.parse(level)
                    except ValueError as exc:
                        raise SettingsError(f"`severity.{selector}`: {exc}") from None
                _rules([selector], "severity")
                levels[selector] = level.strip().lower()
            out["severity"] = levels
        elif key in ("unsafeFixes", "unsafe_fixes"):
            if not isinstance(value, bool):
                raise SettingsError("`unsafeFixes` must be true or false")
            out["unsafeFixes"] = value
        elif key.startswith("$"):
            continue  # "$schema" and friends
        else:
            warnings.append(f"{where}: unknown key `{key}` ignored (known: {', '.join(KEYS)})")
    return out, warnings


def parse_settings_file(path: Path, data: bytes | None = None) -> SettingsFile:
    """Read one settings file (durable-harden.jsonc, or package.json's "durable-harden" key)."""
    try:
        text = (data if data is not None else path.read_bytes()).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read: {exc}") from None
    try:
        document = safejson.loads5(text) if text.strip() else {}
    except ValueError as exc:
        raise SettingsError(f"{path}: not valid JSONC: {exc}") from None
    if path.name == PACKAGE_JSON:
        document = document.get(PACKAGE_KEY, {}) if isinstance(document, dict) else {}
    try:
        raw, warnings = normalize(document, str(path))
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    return SettingsFile(path, raw, warnings)


def select_list(selectors: list[str]) -> list[str]:
    """`select` as Settings keeps it: ["ALL"] stays ALL (so rules added later are on too),
    anything else becomes the rule ids it names."""
    if any(s.strip().upper() == "ALL" for s in selectors):
        return ["ALL"]
    return resolve_selectors(selectors)


def extend_selection(select: list[str] | None, extra: list[str]) -> list[str] | None:
    """`select` plus the rule ids `extra` names. Over the default selection (None) or ALL only
    opt-in rules are news (rules.OPT_IN): they are added next to ALL."""
    if select is None or "ALL" in select:
        added = [r for r in extra if not default_on(r)]
        if not added:
            return select
        base = ["ALL"] if select is None else list(select)
        return base + [r for r in added if r not in base]
    return select + [r for r in extra if r not in select]


def apply(raw: dict[str, Any], base: Settings | None = None) -> Settings:
    """`base` with the keys `raw` sets replaced (severity maps are merged, `off` ignores)."""
    base = base or Settings()
    settings = Settings(
        select=None if base.select is None else list(base.select),
        ignore=list(base.ignore),
        severity=dict(base.severity),
        exclude=list(base.exclude),
        unsafe_fixes=base.unsafe_fixes,
    )
    if "select" in raw:
        settings.select = select_list(raw["select"])
    if raw.get("extendSelect"):
        settings.select = extend_selection(settings.select, resolve_selectors(raw["extendSelect"]))
    if "ignore" in raw:
        settings.ignore = resolve_selectors(raw["ignore"])
    if "exclude" in raw:
        settings.exclude = list(raw["exclude"])
    if "unsafeFixes" in raw:
        settings.unsafe_fixes = bool(raw["unsafeFixes"])
    for selector, level in raw.get("severity", {}).items():
        for rule_id in resolve_selectors([selector]):
            if level == "off":
                if rule_id not in settings.ignore:
                    settings.ignore.append(rule_id)
                settings.severity.pop(rule_id, None)
            else:
                settings.severity[rule_id] = Severity.parse(level)
    return settings


_CACHE: dict[Path, tuple[Stamp, SettingsFile]] = {}


def load_settings_file(path: Path) -> SettingsFile:
    """parse_settings_file, cached by the file's stat signature (mtime, size, inode; one
    written within the last two seconds is read again: see `_settled`)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    stamp: Stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    loaded = parse_settings_file(path)
    if _settled(stamp):
        _CACHE[path] = (stamp, loaded)
    else:
        _CACHE.pop(path, None)
    return loaded


def settings_for(
    path: Path,
    base: Settings | None = None,
    config: Path | None = None,
    folders: dict[Path, Path | None] | None = None,
    lookup: SettingsLookup | None = None,
) -> tuple[Settings, SettingsFile | None]:
    """The settings that apply to `path`: `base` overridden by the nearest settings file (or by
    `config` when given, like `--config`), with that file's `perFileIgnores` for `path`.
    folders: see find_settings_file; lookup: the language server's kept answers."""
    if config is not None:
        found: Path | None = config
    elif lookup is not None:
        found = lookup.find(path)
    else:
        found = find_settings_file(path, folders)
    if found is None:
        return apply({}, base), None
    loaded = load_settings_file(found)
    settings = apply(loaded.raw, base)
    if not path.is_dir():
        settings.ignore += [r for r in loaded.ignored_for(path) if r not in settings.ignore]
    return settings, loaded


def forget(path: Path | None = None) -> None:
    """Drop cached settings files (all, or one)."""
    if path is None:
        _CACHE.clear()
        _PACKAGE_KEYS.clear()
    else:
        with contextlib.suppress(KeyError):
            del _CACHE[path]
        with contextlib.suppress(KeyError):
            del _PACKAGE_KEYS[path]
