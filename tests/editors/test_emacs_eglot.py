"""The Emacs + eglot recipe (editors/emacs/durable-harden-eglot.el, docs/editors.md) in real batch
Emacs: Debian's emacs-nox 28 with elpa-eglot (eglot ships with Emacs 29+), installed by .ci/run.
A .ts file gets a TypeScript major mode, the project root is the wrangler folder inside an outer
git repository, eglot starts `durable-harden serve` from PATH and flymake shows the diagnostic."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.lsp.conftest import ROOT, copy_example

EMACS = shutil.which("emacs")


def test_emacs_eglot_recipe(tmp_path: Path):
    assert EMACS is not None, "emacs not installed (apt-get install -y emacs-nox elpa-eglot)"
    project = copy_example(tmp_path, "chat-room")
    (tmp_path / ".git").mkdir()  # the outer repository: the root must still be the Worker
    (tmp_path / "package.json").write_text('{ "private": true }\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "durable-harden"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m durable_harden "$@"\n')
    script.chmod(0o755)
    done = subprocess.run(
        [
            EMACS,
            "--batch",
            "-l",
            "package",
            "-f",
            "package-initialize",
            "-L",
            str(ROOT / "editors" / "emacs"),
            "-l",
            str(ROOT / "editors" / "emacs" / "test" / "eglot-smoke.el"),
        ],
        cwd=tmp_path,
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "DH_FILE": str(project / "src" / "chat-room.ts"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "mode durable-harden-ts-mode" in output
    assert f"root {project}/" in output
    assert "server durable-harden" in output
    assert "diagnostic at line 147" in output
    assert output.rstrip().endswith("OK") or "\nOK\n" in output, output
