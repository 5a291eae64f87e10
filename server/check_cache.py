"""The on-disk cache of `durable-harden check` (like `.ruff_cache`): a second check of an unchanged
project replays the first one's report instead of analysing again.

What a cached report depends on, and how a hit proves each of it unchanged:
- the tool: its version and the size and modification time of every file of the installed package
  (a development checkout that changed a rule is a new tool);
- the command: every flag, the paths as given and resolved, the working folder (reports print
  paths relative to it), whether stdout/stderr are terminals, the environment variables the
  analysis and the reports read;
- the files: every file the cold run *opened for reading* and every folder it *listed* is recorded
  (through a Python audit hook on `open`, `os.scandir` and `os.listdir`, so a rule that reads a
  new kind of file is covered without changing this module), with a SHA-256 of the content or the
  sorted names; a hit re-hashes each. Plus, for each given path and its parent folders, which
  settings, package and wrangler files and `.git` exist (found by probing, not by listing).

The entry is written to a temporary file and renamed into place, so concurrent runs see a whole
entry or none; an entry that does not parse, is from another tool or version, or names another
key is ignored (a miss), never trusted. The folder holds a CACHEDIR.TAG (backup tools skip it)
and a `.gitignore` of `*`.

Where: `$DURABLE_HARDEN_CACHE_DIR` when set, else `.durable-harden-cache/` in the project root (the
nearest wrangler project of the first path given, inside the workspace). A cache folder that is a
symbolic link, or that resolves outside the project, is not used: no cache for that run.
`--no-cache` or `DURABLE_HARDEN_NO_CACHE=1` turns it off; `--fix`, `--add-ignore` and stdin input
never use the cache (they must see the files as they are).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CACHE_DIR_NAME = ".durable-harden-cache"
CACHE_DIR_ENV = "DURABLE_HARDEN_CACHE_DIR"
NO_CACHE_ENV = "DURABLE_HARDEN_NO_CACHE"  # set (not empty, not 0): as --no-cache
FORMAT = "durable-harden-check-cache/1"
MAX_ENTRIES = 64  # older entries are removed (each edit of a project makes a new key)
ENVIRONMENT = (
    "NO_COLOR",
    "FORCE_COLOR",
    "CI_PROJECT_DIR",
    "DURABLE_HARDEN_DOCS_BASE_URL",
    "DURABLE_HARDEN_FILE_BUDGET",
    "HOME",
    "XDG_CONFIG_HOME",
    "GIT_CONFIG_GLOBAL",
    # not read by the analysis, but a bad value is a usage error: replay() answers before the
    # value is checked, so an entry is only for the value its cold run accepted
    "DURABLE_HARDEN_JOBS",
)
PROBED = (
    "durable-harden.jsonc",
    "package.json",
    "wrangler.json",
    "wrangler.jsonc",
    "wrangler.toml",
    ".git",
)
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by durable-harden.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


# plain classes, not dataclasses: importing `dataclasses` (~4 ms) is a tenth of a warm check
class Entry:
    __slots__ = ("code", "report", "stderr")

    def __init__(self, stderr: list[str], report: str, code: int) -> None:
        self.stderr, self.report, self.code = stderr, report, code


class _Recorder:
    __slots__ = ("files", "folders")

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.folders: set[str] = set()


_recording: _Recorder | None = None
_hook_installed = False
_hook_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    recorder = _recording
    if recorder is None:
        return
    if event == "open":
        path, mode, flags = args
        if not isinstance(path, str | bytes | os.PathLike) or isinstance(path, int):
            return
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR)
        )
        if not writing:
            recorder.files.add(os.fsdecode(os.fspath(path)))
    elif event in ("os.scandir", "os.listdir"):
        path = args[0] if args else "."
        if isinstance(path, str | bytes | os.PathLike) and not isinstance(path, int):
            recorder.folders.add(os.fsdecode(os.fspath(path)) or ".")


def _collect_in_worker() -> tuple[set[str], set[str]] | None:
    """In a worker process of a parallel check: what it recorded since the last call."""
    recorder = _recording
    if recorder is None:
        return None
    found = (set(recorder.files), set(recorder.folders))
    recorder.files.clear()
    recorder.folders.clear()
    return found


def _merge_from_worker(found: tuple[set[str], set[str]] | None) -> None:
    recorder = _recording
    if recorder is not None and found is not None:
        recorder.files |= found[0]
        recorder.folders |= found[1]


@contextlib.contextmanager
def recording() -> Iterator[_Recorder]:
    """Record the files opened for reading and the folders listed inside."""
    global _recording, _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)  # an audit hook cannot be removed: it is idle outside this
            # the rules may run in forked workers (analyzers.parallel): their reads count as
            # this process's (imported here, on the cold path only: a hit stays light)
            from durable_harden.analyzers import parallel

            parallel.carry_back(_collect_in_worker, _merge_from_worker)
            _hook_installed = True
    recorder = _Recorder()
    previous, _recording = _recording, recorder
    try:
        yield recorder
    finally:
        _recording = previous


def _package_tops() -> tuple[str, ...]:
    """The folders of the installed package (the `durable_harden` folder and the folders its
    symbolic links point to): their files are the tool, fingerprinted by `_package_files`."""
    import durable_harden

    tops = {os.path.realpath(p) for p in durable_harden.__path__}
    tops |= {os.path.abspath(p) for p in durable_harden.__path__}
    for top in list(tops):
        for name in ("analyzers", "codeactions", "server"):
            tops.add(os.path.realpath(os.path.join(top, name)))
    return tuple(sorted(tops))


def _package_files() -> list[str]:
    here = Path(__file__).resolve().parent.parent  # the package's top (analyzers/, server/, …)
    rows: list[str] = []
    for folder in ("analyzers", "codeactions", "server"):
        for top, dirs, names in os.walk(here / folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                with contextlib.suppress(OSError):
                    stat = os.stat(os.path.join(top, name))
                    rows.append(f"{top}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return rows


_prefixes: tuple[str, ...] | None = None


def _is_package_file(path: str) -> bool:
    """Files of Python itself and of installed packages (the tool fingerprint covers ours), and
    git's object store (content-addressed: the HEAD and ref files, which are recorded, name the
    objects)."""
    global _prefixes
    if _prefixes is None:
        # once per process: resolving the package's folders for every recorded file was most
        # of storing an entry (~150 ms of a 1,000-file cold check, issue 14)
        _prefixes = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, *_package_tops()})
    return (
        path.endswith((".py", ".pyc", ".so", ".pth"))
        or f"{os.sep}__pycache__" in path
        or f"{os.sep}.git{os.sep}objects{os.sep}" in path
        or any(path == p or path.startswith(p + os.sep) for p in _prefixes)
    )


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except (OSError, ValueError):
        return None


def _listing(path: str, written: frozenset[str]) -> str | None:
    """The folder's sorted names, without what `check` itself writes (the cache folder, the
    report file)."""
    try:
        names = sorted(n for n in os.listdir(path) if os.path.join(path, n) not in written)
    except OSError:
        return None
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def _probes(paths: list[str]) -> list[str]:
    """Which PROBED names exist in each given path and its parent folders (each folder once:
    a folder already seen had its parents seen too). Plain strings, not pathlib: a check of
    ~800 explicit files probes ~1,100 folders."""
    rows: list[str] = []
    seen: set[str] = set()
    exists = os.path.lexists
    join = os.path.join
    for given in paths:
        # a given file holds no names (it is opened, so recorded, by the cold run)
        folder = given if os.path.isdir(given) else os.path.dirname(given)
        while folder not in seen:
            seen.add(folder)
            present = [name for name in PROBED if exists(join(folder, name))]
            rows.append(f"{folder}:{','.join(present)}")
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return rows


def command_key(args: Any, paths: list[Path], resolved: list[str]) -> str:
    """The key of everything but the files' contents."""
    from durable_harden import __version__

    flags = {
        name: (str(value) if isinstance(value, Path) else value)
        for name, value in sorted(vars(args).items())
        if name not in ("func", "handler")
    }
    described = {
        "format": FORMAT,
        "version": __version__,
        "python": sys.version,
        "package": _package_files(),
        "flags": json.dumps(flags, default=str, sort_keys=True),
        "paths": [str(p) for p in paths],
        "resolved": resolved,
        "cwd": os.getcwd(),
        "tty": [_isatty(sys.stdout), _isatty(sys.stderr)],
        "env": {name: os.environ.get(name) for name in ENVIRONMENT},
        "probes": _probes(resolved),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _isatty(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def cache_folder(root: Path) -> Path | None:
    """The cache folder for a project rooted at `root`, or None when none may be used."""
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen:
        folder = Path(chosen).expanduser()
        if not folder.is_absolute():
            folder = Path.cwd() / folder
        return None if folder.is_symlink() else folder
    root = root.resolve()
    folder = root / CACHE_DIR_NAME
    if folder.is_symlink():
        return None  # never follow a linked cache folder out of the workspace
    if folder.exists() and not folder.is_dir():
        return None
    if folder.resolve().parent != root:
        return None
    return folder


class CheckCache:
    def __init__(self, folder: Path, key: str, written: list[Path] | None = None) -> None:
        self.folder = folder
        self.key = key
        self.written = frozenset(str(p) for p in [folder, *(written or [])])

    @property
    def path(self) -> Path:
        return self.folder / f"{self.key}.json"

    def load(self) -> Entry | None:
        """The entry for this key if every file and folder it depends on is unchanged."""
        try:
            if self.path.is_symlink():
                return None
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        try:
            if data["format"] != FORMAT or data["key"] != self.key:
                return None
            files, folders = data["files"], data["folders"]
            stderr, report, code = data["stderr"], data["report"], data["code"]
            if not (
                isinstance(files, dict)
                and isinstance(folders, dict)
                and isinstance(stderr, list)
                and all(isinstance(line, str) for line in stderr)
                and isinstance(report, str)
                and isinstance(code, int)
            ):
                return None
            for path, digest in files.items():
                if _digest(path) != digest:
                    return None
            for path, digest in folders.items():
                if _listing(path, self.written) != digest:
                    return None
        except (KeyError, TypeError, AttributeError):
            return None
        return Entry(stderr=list(stderr), report=report, code=code)

    def store(self, entry: Entry, recorder: _Recorder) -> None:
        """Write the entry (temporary file + rename); a cache that cannot be written is no
        cache, never an error."""
        folder = str(self.folder)
        files = {
            path: _digest(path)
            for path in sorted(recorder.files)
            if not _is_package_file(path) and not path.startswith(folder)
        }
        folders = {
            path: _listing(path, self.written)
            for path in sorted(recorder.folders)
            if not path.startswith(folder) and not _is_package_file(path)
        }
        payload = json.dumps(
            {
                "format": FORMAT,
                "key": self.key,
                "files": files,
                "folders": folders,
                "stderr": entry.stderr,
                "report": entry.report,
                "code": entry.code,
            }
        ).encode()
        with contextlib.suppress(OSError):
            self._prepare()
            _write_atomically(self.path, payload)
            self._prune()

    def _prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "*\n")):
            target = self.folder / name
            if not target.exists():
                _write_atomically(target, text.encode())

    def _prune(self) -> None:
        entries = [p for p in self.folder.glob("*.json") if not p.is_symlink()]
        if len(entries) <= MAX_ENTRIES:
            return
        by_age = sorted(entries, key=lambda p: p.stat().st_mtime_ns)
        for old in by_age[: len(entries) - MAX_ENTRIES]:
            with contextlib.suppress(OSError):
                old.unlink()


def _write_atomically(target: Path, data: bytes) -> None:
    import tempfile  # a hit writes nothing

    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def replay(args: Any) -> tuple[int | None, CheckCache | None]:
    """The warm path of `check`, taken before anything of the analysis is imported: (the exit
    code, None) after replaying a hit; (None, the cache looked up) after a miss, for the cold run
    to store into; (None, None) when this command uses no cache.

    Replaying before the flags are validated is sound: an entry is stored only by a run that
    accepted them, and everything they are checked against is in the key (the tool, the flags,
    the environment) or among the files the entry re-hashes (the `--config` file, the settings
    files)."""
    if (
        args.fix
        or args.add_ignore
        or args.watch
        or args.show_settings
        or args.show_files
        or args.no_cache
        or args.stdin_filename is not None
        or any(str(p) == "-" for p in args.paths)
    ):
        return None, None
    cache = for_command(args, list(args.paths) or [Path.cwd()])
    if cache is None:
        return None, None
    hit = cache.load()
    if hit is None:
        return None, cache
    from durable_harden.server.check_output import CheckUsageError, emit

    try:
        emit(args.output_file, hit.stderr, hit.report)
    except CheckUsageError as exc:
        print(f"durable-harden: error: {exc}", file=sys.stderr)
        return 2, None
    return hit.code, None


def for_command(args: Any, paths: list[Path]) -> CheckCache | None:
    """The cache of this `check` command, or None when it must not use one."""
    from durable_harden.analyzers.roots import context_root, resolve_given

    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    resolved = [str(resolve_given(p)) for p in paths]
    existing = [Path(p) for p in resolved if os.path.exists(p)]
    if not existing:
        return None
    folder = cache_folder(context_root(existing[0]))
    if folder is None:
        return None
    output = getattr(args, "output_file", None)
    written = [Path(os.path.abspath(output))] if output is not None else []
    return CheckCache(folder, command_key(args, paths, resolved), written)
