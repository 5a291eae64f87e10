"""The tool never starts another program (docs/security.md).

Two proofs: the product's source has no way to start one (no subprocess, os.system, os.exec*,
os.spawn*, os.popen, pty, fork), and a repository crafted to run a command as soon as git fetches
a missing object (a partial clone whose remote names a command in `remote.origin.uploadpack`, or
an ssh remote with `core.sshCommand`) goes through `check`, `harden --diff` and the analysis
without that command ever running. Real git builds the repository here: it is a test tool."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.rules import _git

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "analyzers", ROOT / "codeactions", ROOT / "server"]
FIXTURE = ROOT / "tests" / "fixtures" / "rollout-unsafe" / "pipelines"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git builds the repository")

_FORBIDDEN_MODULES = {"subprocess", "pty", "multiprocessing", "pexpect", "sh", "plumbum"}
_FORBIDDEN_OS = ("system", "popen", "exec", "spawn", "posix_spawn", "fork", "forkpty", "startfile")
_FORBIDDEN_NAMES = {"Popen", "create_subprocess_exec", "create_subprocess_shell"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [
                f"{where} import {a.name}"
                for a in node.names
                if a.name.split(".")[0] in _FORBIDDEN_MODULES
            ]
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            if module in _FORBIDDEN_MODULES:
                found.append(f"{where} from {node.module} import …")
            if module == "os":
                found += [
                    f"{where} from os import {a.name}"
                    for a in node.names
                    if a.name.startswith(_FORBIDDEN_OS)
                ]
            found += [f"{where} import {a.name}" for a in node.names if a.name in _FORBIDDEN_NAMES]
        elif isinstance(node, ast.Attribute):
            base = node.value
            if (
                isinstance(base, ast.Name)
                and base.id == "os"
                and node.attr.startswith(_FORBIDDEN_OS)
            ):
                found.append(f"{where} os.{node.attr}")
            if node.attr in _FORBIDDEN_NAMES:
                found.append(f"{where} .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in _FORBIDDEN_NAMES:
            found.append(f"{where} {node.id}")
    return found


# The one exception: the parallel check forks this interpreter (docs/security.md). A fork loads
# no program (no exec): the child is this process, running our own code on the model in memory.
FORKS = ROOT / "analyzers" / "parallel.py"


def test_product_source_cannot_start_a_program() -> None:
    files = [p for folder in PRODUCT for p in sorted(folder.rglob("*.py"))]
    assert len(files) > 50  # the scan sees the product
    violations = [
        v
        for path in files
        for v in _violations(path)
        if not (path == FORKS and v.split(" ", 1)[1].startswith("import multiprocessing"))
    ]
    assert violations == []


def test_the_parallel_check_only_forks_this_interpreter() -> None:
    """parallel.py uses multiprocessing with the fork start method only (spawn and forkserver
    would start the interpreter as a new program), and nothing else of it that starts one."""
    text = FORKS.read_text(encoding="utf-8")
    assert 'get_context("fork")' in text
    for word in ("spawn", "forkserver", "set_executable", "Popen", "resource_tracker", "Manager"):
        assert word not in text, word


@pytest.mark.parametrize("how", ["rules", "parts"])
def test_a_parallel_check_executes_no_program(how: str, tmp_path: Path) -> None:
    """Run a check with worker processes (the rules in workers; the projects in parts) and
    watch the audit events of every way to execute a program: the workers are forks, nothing
    is executed."""
    from durable_harden.analyzers import parallel
    from durable_harden.server.check_run import Overrides, ReportModel, run_check
    from tests.conftest import generate_monorepo

    if not parallel.can_fork():
        pytest.skip("forks on Linux only")
    seen: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if watching[0] and (
            event in {"os.fork", "os.system", "subprocess.Popen", "os.posix_spawn"}
            or event.startswith(("os.exec", "os.spawn"))
        ):
            seen.append(event)

    root = ROOT / "examples"
    if how == "parts":
        generate_monorepo(tmp_path / "monorepo", 40)  # two Worker projects sharing nothing
        root = tmp_path / "monorepo"
    sys.addaudithook(hook)  # cannot be removed: idle once `watching` is cleared
    original = parallel.cpu_count
    parallel.cpu_count = lambda: 2  # type: ignore[assignment]
    try:
        run = run_check([root], Overrides(), jobs=2, prebuild_fixes=True, split=how == "parts")
    finally:
        watching[0] = False
        parallel.cpu_count = original  # type: ignore[assignment]
    assert run.findings
    assert isinstance(run.model, ReportModel) == (how == "parts")
    assert seen and set(seen) == {"os.fork"}  # workers were forked; no program was executed


def test_the_scan_finds_each_way_of_starting_a_program(tmp_path: Path) -> None:
    """The scan is not blind: each spelling is caught."""
    spellings = [
        "import subprocess",
        "from subprocess import run",
        "import os\nos.system('x')",
        "import os\nos.execvp('x', [])",
        "from os import posix_spawnp",
        "import os\nos.popen('x')",
        "import asyncio\nasyncio.create_subprocess_exec('x')",
        "import pty",
    ]
    path = tmp_path / "probe.py"
    for text in spellings:
        path.write_text(text + "\n")
        assert _violations(path), text


# -- a repository crafted to run a command when git fetches ----------------------------------


def _git_run(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _crafted(tmp_path: Path, how: str) -> tuple[Path, Path]:
    """A partial clone (`--filter=blob:none`, no checkout: every file's blob is missing) of the
    rollout fixture, with its remote rigged to run a script that leaves a marker file. The work
    tree holds the files with a migration added, so the rule asks for the committed config."""
    origin = tmp_path / "origin"
    shutil.copytree(FIXTURE, origin)
    _git_run(origin, "init", "-q", "-b", "main")
    _git_run(origin, "config", "uploadpack.allowFilter", "true")
    _git_run(origin, "add", ".")
    _git_run(origin, "commit", "-q", "-m", "live")
    clone = tmp_path / "clone"
    _git_run(
        tmp_path,
        "clone",
        "-q",
        "--no-checkout",
        "--filter=blob:none",
        f"file://{origin}",
        str(clone),
    )
    for item in origin.iterdir():
        if item.name != ".git":
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, clone / item.name)
    config = clone / "wrangler.jsonc"
    config.write_text(
        config.read_text().replace(
            '"migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room", "RoomCanary"] }],',
            '"migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room", "RoomCanary"] }, '
            '{ "tag": "v2", "new_sqlite_classes": ["Lobby"] }],',
        )
    )
    marker = tmp_path / "PWNED"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\necho ran >> '{marker}'\nexit 1\n")
    script.chmod(0o755)
    if how == "uploadpack":
        _git_run(clone, "config", "remote.origin.uploadpack", str(script))
    else:
        _git_run(clone, "config", "remote.origin.url", "ssh://git@example.invalid/x.git")
        _git_run(clone, "config", "core.sshCommand", str(script))
    return clone, marker


@needs_git
@pytest.mark.parametrize("how", ["uploadpack", "sshCommand"])
def test_crafted_partial_clone_runs_nothing(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone, marker = _crafted(tmp_path, how)
    # the trap is armed: git itself runs the script when asked for the committed config
    blob = _git_run(clone, "rev-parse", "HEAD:wrangler.jsonc")
    trap = subprocess.run(["git", "cat-file", "-p", blob], cwd=clone, capture_output=True)
    assert trap.returncode != 0 and marker.exists()
    marker.unlink()

    _git.clear_cache()
    asked: list[Path] = []
    real = _git.head_version
    monkeypatch.setattr(
        "durable_harden.analyzers.rules.rollout_unsafe.head_version",
        lambda path: asked.append(path) or real(path),
    )
    result = analyze_paths([clone], Settings())
    assert clone / "wrangler.jsonc" in asked  # the analysis did ask for the committed version
    assert real(clone / "wrangler.jsonc") is None  # missing object: unknown, not fetched
    assert not [p for p in result.problems if "internal error" in p.message]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in (["check", str(clone)], ["harden", "--diff", str(clone)]):
        done = subprocess.run(
            [sys.executable, "-m", "durable_harden", *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), done.stderr
    assert not marker.exists()


@needs_git
def test_committed_version_is_read_from_packs_and_loose_objects(tmp_path: Path) -> None:
    """The reader that replaced `git show` reads what git committed, packed or not."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    _git_run(root, "init", "-q", "-b", "main")
    _git_run(root, "add", ".")
    _git_run(root, "commit", "-q", "-m", "one")
    config = root / "wrangler.jsonc"
    committed = config.read_bytes()
    _git.clear_cache()
    assert _git.head_version(config) == committed  # loose objects
    config.write_bytes(committed + b"// two\n")
    _git_run(root, "commit", "-q", "-am", "two")
    _git_run(root, "gc", "-q", "--aggressive")  # packed, with deltas
    assert not list((root / ".git" / "objects").glob("??/*"))
    assert _git.head_version(config) == committed + b"// two\n"
    assert _git.head_version(root / "package.json") == (root / "package.json").read_bytes()
    assert _git.head_version(root / "no-such-file") is None
