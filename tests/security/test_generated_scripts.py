"""Values from the user's project written into a generated shell script are data, never code:
a Worker name with a newline, quotes, `$(…)` or backticks, put into
scripts/deploy-gradual.sh, passes shellcheck and runs no injected command when the script runs
(against the fake wrangler the rollout tests use)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from durable_harden.analyzers.wrangler import load_config
from durable_harden.codeactions.rollout_unsafe import deploy_script, tag_for
from tests.rules.test_rollout_unsafe import FAKE_WRANGLER, NEW, OLD, RULE, _git, fixture

needs_tools = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("node") is None, reason="needs git and node"
)


def _evil_names(marker: Path) -> list[str]:
    touch = f"touch {marker}"
    return [
        f"rooms\n{touch}\n#",
        f"rooms\r\n{touch}\r\n#",
        f'rooms"; {touch}; echo "',
        f"rooms'; {touch}; echo '",
        f"rooms$({touch})",
        f"rooms`{touch}`",
        f"rooms${{IFS}}\\\n{touch}",
        f"rooms\u2028{touch}\x1b[2J",
    ]


def _project(tmp_path: Path, name: str) -> tuple[Path, Path]:
    root = fixture(RULE, "pipelines", tmp_path)
    config = root / "wrangler.jsonc"
    config.write_text(config.read_text().replace('"name": "rooms"', f'"name": {json.dumps(name)}'))
    loaded = load_config(config)
    assert loaded.name == name
    script = root / "scripts" / "deploy-gradual.sh"
    script.write_text(deploy_script(loaded))
    return root, script


@pytest.mark.parametrize("index", range(8))
def test_worker_name_is_data_in_the_script(tmp_path: Path, index: int) -> None:
    marker = tmp_path / "INJECTED"
    name = _evil_names(marker)[index]
    _root, script = _project(tmp_path, name)
    text = script.read_text()
    # every line that is not a comment is the template's own: the name never reaches code
    assert str(marker) not in "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    )
    # the script itself is one script: bash reads it without running anything
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="apt-get install -y shellcheck")
@pytest.mark.parametrize("index", range(8))
def test_script_with_hostile_name_passes_shellcheck(tmp_path: Path, index: int) -> None:
    name = _evil_names(tmp_path / "INJECTED")[index]
    _root, script = _project(tmp_path, name)
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@needs_tools
@pytest.mark.parametrize("index", range(8))
def test_running_the_script_runs_no_injected_command(tmp_path: Path, index: int) -> None:
    marker = tmp_path / "INJECTED"
    name = _evil_names(marker)[index]
    root, script = _project(tmp_path, name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "wrangler").write_text(FAKE_WRANGLER)
    (bin_dir / "wrangler").chmod(0o755)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "live")
    tag = tag_for(name)
    _git(root, "tag", tag)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "WRANGLER_LOG": str(tmp_path / "calls.log"),
        "FAKE_OLD": OLD,
        "FAKE_NEW": NEW,
        "PAUSE_SECONDS": "0",
    }
    done = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert not marker.exists(), done.stderr
    assert done.returncode == 0, done.stderr  # and it still deploys
    assert (tmp_path / "calls.log").read_text().splitlines()[
        -1
    ] == f"versions deploy {NEW}@100 --yes"
    assert _git(root, "rev-parse", tag) == _git(root, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    "folder", ["it's $(touch INJECTED)", "a`touch INJECTED`b", "x; touch INJECTED"]
)
def test_verify_commands_quote_the_project_folder(tmp_path: Path, folder: str) -> None:
    """The report's "verify" commands `cd` into each project: a folder name is one word."""
    from durable_harden.codeactions.harden.plan import plan_workspace
    from durable_harden.codeactions.harden.report import verify_commands

    mono = tmp_path / "mono"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "chat-room", mono / folder)
    plan = plan_workspace([mono], unsafe=True)
    commands = verify_commands(plan)
    assert commands and all(folder not in c or f"cd {folder} " not in c for c in commands)
    for command in commands:
        for tool in ("npx tsc --noEmit", "npx vitest run", "scripts/deploy-gradual.sh"):
            command = command.replace(tool, "true")
        done = subprocess.run(["bash", "-c", command], cwd=mono, capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr)  # the cd reached the folder
    assert not (mono / "INJECTED").exists() and not (mono / folder / "INJECTED").exists()
