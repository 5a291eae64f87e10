"""Byte-code for the trees a benchmark runs: compiled before anything is timed.

With `PYTHONDONTWRITEBYTECODE` set (as on the development machine), Python never rewrites a
stale `.pyc`: every module edited since its last compilation is compiled again from source in
every measured process (~2-3 ms a module), so an "after" tree with a few edited modules looked
slower than it is. `python -m compileall` does not catch it either: it skips symlinked folders
(`durable_harden/` links to `analyzers/`, `codeactions/`, `server/`) and, without `-f`, compares
only the source's modification time, not its size (an edit within the same second goes
unseen). Writing byte-code into the tree's own `__pycache__` folders is what a normal import
does; they are ignored by git.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
from pathlib import Path

PACKAGES = ("durable_harden", "analyzers", "codeactions", "server")


def compile_tree(tree: Path) -> None:
    """Compile every module of the durable_harden tree rooted at `tree` (a checkout, an
    exported copy, or the folder holding an installed package), whatever its `.pyc` say."""
    for name in PACKAGES:
        folder = tree / name
        if folder.is_dir() and not folder.is_symlink():
            compileall.compile_dir(folder, quiet=1, force=True)


def tree_of_subprocess(env: dict[str, str] | None = None) -> Path:
    """The tree `python -m durable_harden` runs in a child with `env`: the folder above the
    package it imports."""
    done = subprocess.run(
        [sys.executable, "-c", "import durable_harden; print(durable_harden.__file__)"],
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    package = Path(done.stdout.strip()).parent
    return package.parent
