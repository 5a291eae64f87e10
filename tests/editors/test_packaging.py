"""The wheel as users install it: built from the project's files, installed with its dependencies
into a fresh virtual environment (`python3 -m venv`), used from outside the checkout.

One import package: site-packages gets `durable_harden` and no top-level `server`, `analyzers`
or `codeactions`; `durable-harden` and `python -m durable_harden` work; the rule pages ship
inside the package and the links in SARIF point at them; the VS Code launcher's
`--from-environment` finds this install."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from durable_harden.analyzers.rules import all_rules

ROOT = Path(__file__).resolve().parents[2]
BUNDLER = ROOT / "editors" / "vscode" / "scripts" / "bundle_server.py"
LAUNCHER = ROOT / "editors" / "vscode" / "bundled" / "tool" / "launch.py"


def _bundler():
    spec = importlib.util.spec_from_file_location("bundle_server", BUNDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("packaging")
    wheel = _bundler().build_wheel(base / "wheel")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    return {"dir": env_dir, "python": python, "site": site, "wheel": wheel, "base": base}


def clean_env(home: Path) -> dict[str, str]:
    """No PYTHONPATH: the venv must not see this checkout."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home)}


def test_one_import_package_in_site_packages(venv: dict[str, Path]):
    names = {p.name for p in venv["site"].iterdir()}
    assert "durable_harden" in names
    assert not names & {"server", "analyzers", "codeactions"}, sorted(names)
    record = next(venv["site"].glob("durable_harden-*.dist-info")) / "RECORD"
    tops = {line.split("/", 1)[0] for line in record.read_text().splitlines()}
    assert {t for t in tops if not t.endswith(".dist-info") and t != ".."} <= {"durable_harden"}
    pages = {p.name for p in (venv["site"] / "durable_harden" / "docs" / "rules").glob("*.md")}
    assert {f"{r.id}.md" for r in all_rules()} | {"README.md"} <= pages


def test_console_script_checks_an_example(venv: dict[str, Path], tmp_path: Path):
    project = tmp_path / "chat-room"
    shutil.copytree(ROOT / "examples" / "chat-room", project)
    done = subprocess.run(
        [str(venv["dir"] / "bin" / "durable-harden"), "check", str(project)],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the example's planted problems
    assert "timer-blocks-hibernation" in done.stdout
    assert "sql-missing-index" in done.stdout


def test_python_m_lists_the_rules(venv: dict[str, Path], tmp_path: Path):
    done = subprocess.run(
        [str(venv["python"]), "-m", "durable_harden", "rules"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for rule in all_rules():
        assert rule.id in done.stdout


def test_sarif_links_open_the_installed_pages(venv: dict[str, Path], tmp_path: Path):
    project = tmp_path / "rate-limiter"
    shutil.copytree(ROOT / "examples" / "rate-limiter", project)
    done = subprocess.run(
        [str(venv["dir"] / "bin" / "durable-harden"), "check", "--output-format", "sarif", "."],
        cwd=project,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    driver = json.loads(done.stdout)["runs"][0]["tool"]["driver"]
    links = [driver["informationUri"]] + [r["helpUri"] for r in driver["rules"]]
    assert len(links) > 1
    for link in links:
        url = urlparse(link)
        assert url.scheme == "file", link
        page = Path(unquote(url.path))
        assert page.is_relative_to(venv["site"] / "durable_harden" / "docs" / "rules"), link
        assert page.is_file(), link
    # a configured base URL replaces the local pages
    based = subprocess.run(
        [str(venv["dir"] / "bin" / "durable-harden"), "check", "--output-format", "sarif", "."],
        cwd=project,
        env={**clean_env(tmp_path), "DURABLE_HARDEN_DOCS_BASE_URL": "https://docs.example/r/"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    rules = json.loads(based.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert all(r["helpUri"] == f"https://docs.example/r/{r['id']}.md" for r in rules)


def test_vscode_launcher_from_environment_uses_this_install(venv: dict[str, Path], tmp_path: Path):
    """`--from-environment` with this venv's Python: a launcher without any bundled copy next to
    it still starts, so the durable-harden it runs is the one installed here."""
    tool = tmp_path / "ext" / "bundled" / "tool"
    tool.mkdir(parents=True)
    shutil.copy(LAUNCHER, tool / "launch.py")
    done = subprocess.run(
        [str(venv["python"]), "-I", str(tool / "launch.py"), "--from-environment", "rules"],
        cwd=tmp_path / "ext",
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "unbounded-table-growth" in done.stdout
    assert "bundled" not in done.stderr
    # and without --from-environment it insists on the bundled copy, which is missing here
    bundled = subprocess.run(
        [str(venv["python"]), "-I", str(tool / "launch.py"), "rules"],
        cwd=tmp_path / "ext",
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bundled.returncode == 2
    assert "no bundled server" in bundled.stderr
