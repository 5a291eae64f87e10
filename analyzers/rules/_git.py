"""The committed version of a file, for rules that compare the working tree with git HEAD.

No git, not a repository, or a file git does not track: None (rules then report nothing).
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path


@cache
def _git() -> str | None:
    return shutil.which("git")


def head_version(path: Path) -> bytes | None:
    git = _git()
    if git is None:
        return None
    folder = path.parent
    try:
        top = subprocess.run(
            [git, "rev-parse", "--show-toplevel"],
            cwd=folder,
            capture_output=True,
            timeout=10,
            check=False,
        )
        if top.returncode != 0:
            return None
        root = Path(top.stdout.decode().strip()).resolve()
        rel = path.resolve().relative_to(root).as_posix()
        shown = subprocess.run(
            [git, "show", f"HEAD:{rel}"],
            cwd=root,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return shown.stdout if shown.returncode == 0 else None
