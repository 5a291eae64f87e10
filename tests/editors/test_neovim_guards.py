"""When the durable-harden client starts in real headless Neovim, for the 0.11+ config
(editors/neovim/lsp/durable-harden.lua) and the 0.7-0.10 set-up
(editors/neovim/lua/durable_harden_legacy.lua): one client per Worker project serving all its
buffers, nothing outside a Worker project (a stray a.ts, an unrelated pyproject.toml), and one
clear message when `durable-harden` is not on PATH (editors/neovim/test/guards.lua)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import ROOT, copy_example
from tests.lsp.nvim_binaries import debian_nvim, pyinstaller_nvim

SETUPS = [
    pytest.param("legacy", debian_nvim(), id="neovim-0.7-legacy"),
    pytest.param("config", pyinstaller_nvim(), id="neovim-0.11-config"),
]
LUA = ROOT / "editors" / "neovim" / "test" / "guards.lua"


def run_nvim(nvim: str | None, mode: str, tmp_path: Path, missing: bool) -> str:
    assert nvim is not None, (
        "Neovim not installed (.ci/run installs Debian's 0.7, the test extra 0.11+)"
    )
    project = copy_example(tmp_path, "chat-room")
    (project / "package.json").write_text('{ "private": true }\n')
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "a.ts").write_text("export const a = setTimeout(() => 1, 10);\n")
    (stray / "pyproject.toml").write_text('[project]\nname = "unrelated"\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if not missing:
        script = bin_dir / "durable-harden"
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m durable_harden "$@"\n')
        script.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONPATH": str(ROOT),
        "DH_MODE": mode,
        "DH_RTP": str(ROOT / "editors" / "neovim"),
        "DH_PROJECT": str(project),
        "DH_STRAY": str(stray),
        "DH_MISSING": "1" if missing else "0",
    }
    done = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-c", f"luafile {LUA}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert output.rstrip().endswith("OK"), output
    return output


@pytest.mark.parametrize(("mode", "nvim"), SETUPS)
def test_one_client_per_worker_project_and_none_outside(mode: str, nvim: str | None, tmp_path):
    output = run_nvim(nvim, mode, tmp_path, missing=False)
    assert "stray a.ts and pyproject.toml: no client" in output
    assert f"one client for 2 buffers, root {tmp_path / 'chat-room'}" in output
    assert "diagnostics arrived" in output


@pytest.mark.parametrize(("mode", "nvim"), SETUPS)
def test_no_executable_warns_once(mode: str, nvim: str | None, tmp_path):
    output = run_nvim(nvim, mode, tmp_path, missing=True)
    assert "warned once" in output
    assert "`durable-harden` is not an executable on PATH" in output
