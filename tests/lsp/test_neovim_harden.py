"""Harden all in real headless Neovim 0.11+ (issue 15 item 6): every change goes through the
editor (modified buffers, nothing written behind its back by the server), the summary says so,
and after `:wall` the project is byte-identical to what `durable-harden harden --unsafe-fixes
--yes` writes. Before, Neovim got the edits of existing files as buffers while the server wrote
the new files to disk: half a project on disk until `:wall`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import EXAMPLES, ROOT, copy_example
from tests.lsp.nvim_binaries import debian_nvim, pyinstaller_nvim

NVIMS = {"0.7": debian_nvim(), "0.11+": pyinstaller_nvim()}
REPORT = "durable-harden-report.md"


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != REPORT
    }


@pytest.mark.parametrize("version", sorted(NVIMS))
def test_neovim_harden_all_goes_through_the_editor(tmp_path: Path, version: str):
    nvim = NVIMS[version]
    if nvim is None:
        pytest.skip(f"Neovim {version} not installed (apt-get install neovim; the `test` extra)")
    expected_root = tmp_path / "cli" / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", expected_root)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "durable_harden",
            "harden",
            "--unsafe-fixes",
            "--yes",
            str(expected_root),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    expected = tree(expected_root)

    project = copy_example(tmp_path, "chat-room")
    original = tree(project)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
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
        "DH_RTP": str(ROOT / "editors" / "neovim"),
        "DH_FILE": str(project / "src" / "chat-room.ts"),
    }
    run = subprocess.run(
        [
            nvim,
            "--headless",
            "-u",
            "NONE",
            "-c",  # not `-l`: Neovim 0.7 has no -l
            f"luafile {Path(__file__).parent / 'nvim' / 'harden.lua'}",
            "-c",  # reached only when the script stopped on a Lua error
            "cquit 2",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    lines = output.splitlines()
    (result_line,) = [line for line in lines if line.startswith("RESULT ")]
    result = json.loads(result_line.removeprefix("RESULT "))
    assert result["applied"] is True and result["route"] == "client", result
    assert result["writtenByServer"] == []
    summary = [line for line in lines if line.startswith("MESSAGE durable-harden: applied")]
    assert summary and "through the editor" in summary[0] and "save all" in summary[0], output
    # every changed or created file was a modified buffer before :wall ...
    modified = {
        Path(line.removeprefix("MODIFIED ")).relative_to(project).as_posix()
        for line in lines
        if line.startswith("MODIFIED ")
    }
    changed = {p for p, data in expected.items() if original.get(p) != data}
    assert changed and modified == changed, (sorted(modified), sorted(changed))
    # ... and after it the project is exactly what the CLI writes
    assert tree(project) == expected
    assert output.rstrip().endswith("OK"), output
