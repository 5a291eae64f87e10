"""The VS Code extension (editors/vscode): it installs from its lockfile, type-checks, bundles
the server (scripts/bundle_server.py), packages into a .vsix for linux-x64, and what it declares
matches what the language server really offers.

The bundle is loaded in Node with a stand-in `vscode` module (tests/editors/vscode_stub_load.js)
to read the constants it uses (server command names, fix-all kind, settings section and keys),
compared with the server's registrations in server/lsp/, and to call its own
`resolveServerCommand`: the command it builds is started from the unpacked .vsix over stdio
against a workspace that holds a malicious `server/` package and `durable_harden.py`.
Real VS Code (code-server from npm, driven by Debian's chromium) then runs the .vsix with no
settings at all (tests at the end).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp

from durable_harden.analyzers.findings import Severity
from durable_harden.analyzers.settings_file import KEYS, normalize
from durable_harden.analyzers.roots import CONFIG_NAMES
from durable_harden.server import lsp as server_lsp
from durable_harden.server.lsp import engine as lsp_engine

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "editors" / "vscode"
NPM = shutil.which("npm")
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NPM is None or NODE is None, reason="node/npm not installed (needed for the VS Code extension)"
)


def run(cmd: list[str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cmd, cwd=EXT, capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed() -> Path:
    """node_modules from package-lock.json: `npm ci` unless it already matches the lockfile."""
    stamp = EXT / "node_modules" / ".durable-harden-lock"
    digest = hashlib.sha256((EXT / "package-lock.json").read_bytes()).hexdigest()
    current = stamp.is_file() and stamp.read_text() == digest
    if not current and (EXT / "node_modules").is_dir():
        # scripts/test.sh ran `npm ci` already: `npm ls` says whether it fits the lockfile
        current = (
            subprocess.run(
                [str(NPM), "ls", "--depth=0"], cwd=EXT, capture_output=True, timeout=60
            ).returncode
            == 0
        )
    if not current:
        run([str(NPM), "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"])
    stamp.write_text(digest)
    return EXT / "node_modules"


@pytest.fixture(scope="module")
def vsix(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`vsce package --no-dependencies` (its prepublish step bundles dist/extension.js)."""
    out = tmp_path_factory.mktemp("vsix") / "durable-harden.vsix"
    vsce = installed / ".bin" / "vsce"
    # vscode:prepublish bundles the extension and the server (bundled/, skipped when current)
    run(
        [
            str(vsce),
            "package",
            "--no-dependencies",
            "--allow-missing-repository",
            "--target",
            "linux-x64",
            "--out",
            str(out),
        ],
        timeout=600,
    )
    assert out.is_file()
    return out


@pytest.fixture(scope="module")
def manifest(vsix: Path) -> dict[str, Any]:
    with zipfile.ZipFile(vsix) as archive:
        return json.loads(archive.read("extension/package.json"))


@pytest.fixture(scope="module")
def unpacked(vsix: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .vsix unzipped: `<dir>/extension` is what VS Code installs."""
    out = tmp_path_factory.mktemp("unpacked-all")
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(out)
    return out / "extension"


def call_bundle(unpacked: Path, installed: Path, fn: str, *args: Any) -> dict[str, Any]:
    """Calls an export of the packaged dist/extension.js in Node (stand-in `vscode`)."""
    spec = unpacked.parent / f"call-{fn}.json"
    spec.write_text(json.dumps({"fn": fn, "args": list(args)}))
    done = run(
        [
            str(NODE),
            str(ROOT / "tests" / "editors" / "vscode_stub_load.js"),
            str(unpacked / "dist" / "extension.js"),
            str(installed / "@types" / "vscode" / "index.d.ts"),
            str(spec),
        ],
        timeout=60,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def bundle_exports(vsix: Path, installed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The bundled extension.js from the .vsix, loaded in Node with a stand-in `vscode`."""
    unpacked = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(vsix) as archive:
        archive.extract("extension/dist/extension.js", unpacked)
    done = run(
        [
            str(NODE),
            str(ROOT / "tests" / "editors" / "vscode_stub_load.js"),
            str(unpacked / "extension" / "dist" / "extension.js"),
            str(installed / "@types" / "vscode" / "index.d.ts"),
        ],
        timeout=60,
    )
    return json.loads(done.stdout)


def test_typecheck(installed: Path):
    run([str(installed / ".bin" / "tsc"), "--noEmit", "-p", "."], timeout=120)


def test_unit_tests_of_server_resolution_and_settings(installed: Path):
    done = run([str(NPM), "run", "--silent", "test:unit"], timeout=120)
    assert re.search(r"^# fail 0$", done.stdout, re.M), done.stdout
    assert re.search(r"^# pass [1-9]", done.stdout, re.M), done.stdout


def test_vsix_contents(vsix: Path, manifest: dict[str, Any]):
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        bundle = archive.read("extension/dist/extension.js")
    assert {"extension/dist/extension.js", "extension/package.json", "extension/readme.md"} <= names
    assert not any(n.startswith(("extension/src/", "extension/node_modules/")) for n in names)
    # the language client is bundled in, `vscode` is left to the host
    assert b"vscode-languageclient" in bundle or b"LanguageClient" in bundle
    assert b'require("vscode")' in bundle
    # the server ships inside: the project's wheel and its dependencies, one import package
    libs = {n.split("/")[3] for n in names if n.startswith("extension/bundled/libs/")}
    assert {"durable_harden", "pygls", "lsprotocol", "sqlglot", "tree_sitter_typescript"} <= libs
    assert not libs & {"server", "analyzers", "codeactions"}
    assert "extension/bundled/tool/launch.py" in names
    assert "extension/bundled/libs/durable_harden/server/cli.py" in names
    assert "extension/bundled/libs/durable_harden/docs/rules/class-not-exported.md" in names
    # tree-sitter's core has one wheel per CPython version: every supported one is there
    for tag in ("cp311", "cp312", "cp313", "cp314"):
        assert any(n.startswith(f"extension/bundled/libs-{tag}/tree_sitter/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".gitignore") for n in names)
    assert manifest["main"] == "./dist/extension.js"
    assert manifest["engines"]["vscode"] == "^1.91.0"
    assert manifest["version"] == server_lsp.VERSION


def test_bundle_loads_and_exports_activate(bundle_exports: dict):
    assert bundle_exports["activate"].startswith("function")
    assert bundle_exports["deactivate"].startswith("function")


def test_contributed_commands(manifest: dict[str, Any], bundle_exports: dict):
    contributed = {c["command"]: c for c in manifest["contributes"]["commands"]}
    assert set(contributed) == set(bundle_exports["COMMANDS"].values())
    titles = {c["title"] for c in contributed.values()}
    assert {"Harden all Durable Objects", "Restart server", "Show output"} == titles
    assert all(c["category"] == "Durable Harden" for c in contributed.values())


REGISTERED = set(server_lsp.server.protocol.fm.commands)


def test_server_commands_the_extension_calls_are_registered(bundle_exports: dict):
    wanted = set(bundle_exports["SERVER_COMMANDS"].values())
    missing = wanted - REGISTERED
    assert not missing, (
        f"the extension executes {sorted(missing)} but server/lsp/ registers only "
        f"{sorted(REGISTERED)}"
    )


def test_every_server_command_is_known_to_the_extension(bundle_exports: dict):
    """A command the server adds or renames must reach the extension (SERVER_COMMANDS)."""
    unknown = REGISTERED - set(bundle_exports["SERVER_COMMANDS"].values())
    assert not unknown, f"server/lsp/ registers {sorted(unknown)}, unknown to the extension"


def test_code_action_kinds_match_the_server(manifest: dict[str, Any], bundle_exports: dict):
    options = server_lsp.server.protocol.fm.feature_options[lsp.TEXT_DOCUMENT_CODE_ACTION]
    server_kinds = {str(getattr(k, "value", k)) for k in options.code_action_kinds}
    contributed = {
        action["kind"]
        for block in manifest["contributes"]["codeActions"]
        for action in block["actions"]
    }
    assert contributed == server_kinds
    assert bundle_exports["FIX_ALL_KIND"] == server_lsp.FIX_ALL_KIND in contributed
    languages = {
        lang for block in manifest["contributes"]["codeActions"] for lang in block["languages"]
    }
    selected = {s["language"] for s in bundle_exports["DOCUMENT_SELECTOR"] if "language" in s}
    assert selected <= languages


def test_document_selector_covers_the_server_files(manifest: dict[str, Any], bundle_exports: dict):
    patterns = [s["pattern"] for s in bundle_exports["DOCUMENT_SELECTOR"] if "pattern" in s]
    assert len(patterns) == 1
    match = re.fullmatch(r"\*\*/wrangler\.\{([a-z,]+)\}", patterns[0])
    assert match is not None
    assert {f"wrangler.{ext}" for ext in match.group(1).split(",")} == set(CONFIG_NAMES)
    languages = {s["language"] for s in bundle_exports["DOCUMENT_SELECTOR"] if "language" in s}
    assert languages == {"typescript", "typescriptreact", "javascript", "javascriptreact"}
    events = set(manifest["activationEvents"])
    assert {f"onLanguage:{lang}" for lang in languages} <= events
    assert {f"workspaceContains:**/{name}" for name in CONFIG_NAMES} <= events
    assert all(s["scheme"] == "file" for s in bundle_exports["DOCUMENT_SELECTOR"])


def test_settings_match_what_the_server_reads(manifest: dict[str, Any], bundle_exports: dict):
    section = bundle_exports["CONFIG_SECTION"]
    props = manifest["contributes"]["configuration"]["properties"]
    keys = {name.removeprefix(f"{section}.") for name in props}
    assert all(name.startswith(f"{section}.") for name in props)
    server_keys, client_keys = (
        set(bundle_exports["SERVER_KEYS"]),
        set(bundle_exports["CLIENT_KEYS"]),
    )
    assert keys == server_keys | client_keys
    assert {"select", "ignore", "severity", "unsafeFixes", "debounceMs", "trace.server"} <= keys
    assert {"enable", "importStrategy", "interpreter", "path", "docsBaseUrl"} <= keys
    assert props[f"{section}.importStrategy"]["enum"] == ["useBundled", "fromEnvironment"]
    assert props[f"{section}.importStrategy"]["default"] == "useBundled"
    assert props[f"{section}.path"]["default"] == ""  # the bundled server unless set
    for key in ("enable", "select", "ignore", "severity", "unsafeFixes"):
        assert props[f"{section}.{key}"]["scope"] == "resource", key
    # no install hint names a package that does not exist on PyPI
    assert "pip install durable-harden" not in json.dumps(manifest)
    # every key sent is one the server understands (rule settings, or editor-only ones)
    assert server_keys <= set(KEYS) | set(server_lsp.EDITOR_ONLY)
    # the section the server asks for in workspace/configuration is the one the middleware answers
    source = "".join(
        p.read_text(encoding="utf-8") for p in sorted(Path(server_lsp.__file__).parent.glob("*.py"))
    )
    asked = set(re.findall(r'ConfigurationItem\(section="([^"]+)"\)', source))
    assert asked == {bundle_exports["SERVER_SECTION"]}
    # defaults are the server's own defaults
    defaults = {k: props[f"{section}.{k}"]["default"] for k in server_keys}
    assert defaults["debounceMs"] == server_lsp.DEFAULT_DEBOUNCE_MS
    assert defaults["maxFileBytes"] == lsp_engine.DEFAULT_MAX_LIVE_BYTES
    assert defaults["unsafeFixes"] is False
    levels = set(props[f"{section}.severity"]["additionalProperties"]["enum"])
    assert levels == {s.name.lower() for s in Severity} | {"off"}
    rule_defaults = {k: v for k, v in defaults.items() if k not in server_lsp.EDITOR_ONLY}
    assert normalize(rule_defaults, "vscode defaults") == (rule_defaults, [])
    assert props[f"{section}.trace.server"]["enum"] == ["off", "messages", "verbose"]


class _Stdio:
    """A minimal JSON-RPC client over a child's stdio (enough for initialize/shutdown)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def receive(self, deadline: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            header_end = self.buffer.find(b"\r\n\r\n")
            if header_end >= 0:
                length = int(re.search(rb"Content-Length: (\d+)", self.buffer[:header_end])[1])  # type: ignore[index]
                start = header_end + 4
                if len(self.buffer) >= start + length:
                    body = self.buffer[start : start + length]
                    self.buffer = self.buffer[start + length :]
                    return json.loads(body)
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the server did not answer in time"
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                assert chunk, "the server closed its stdout"
                self.buffer += chunk


EVIL = (
    "import pathlib\n"
    "pathlib.Path({marker!r}).write_text({name!r})\n"
    "raise SystemExit('workspace code ran: ' + {name!r})\n"
)


def hostile_workspace(tmp_path: Path) -> tuple[Path, Path]:
    """An example project that also holds modules named like the server and its dependencies;
    importing any of them writes the marker file."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "rate-limiter", project)
    marker = tmp_path / "workspace-code-ran"
    # json: a standard module the server imports (a workspace on sys.path would shadow it)
    for rel in ("server/__init__.py", "server/cli.py", "durable_harden.py", "pygls.py", "json.py"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(EVIL.format(marker=str(marker), name=rel))
    return project, marker


def serve_and_check(command: dict[str, Any], project: Path, env: dict[str, str]) -> dict:
    """Starts the server command over stdio, opens wrangler.jsonc, returns the first
    publishDiagnostics for it (and checks the server answered initialize and shut down)."""
    proc = subprocess.Popen(
        [command["command"], *command["args"]],
        cwd=command["cwd"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    client = _Stdio(proc)
    config = project / "wrangler.jsonc"
    try:
        deadline = time.monotonic() + 60
        client.send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": os.getpid(),
                    "rootUri": project.as_uri(),
                    "workspaceFolders": [{"uri": project.as_uri(), "name": "project"}],
                    "capabilities": {
                        "textDocument": {"publishDiagnostics": {"codeDescriptionSupport": True}}
                    },
                },
            }
        )
        init = None
        published = None
        opened = False
        while published is None:
            message = client.receive(deadline)
            if "id" in message and "method" in message:  # a request of the server: answer it
                result: Any = None
                if message["method"] == "workspace/configuration":
                    result = [{} for _ in message["params"]["items"]]
                client.send({"id": message["id"], "result": result})
            elif message.get("id") == 1:
                init = message["result"]
            elif (
                message.get("method") == "textDocument/publishDiagnostics"
                and message["params"]["uri"] == config.as_uri()
                and message["params"]["diagnostics"]
            ):
                published = message["params"]
            if init is not None and not opened:
                opened = True
                client.send({"method": "initialized", "params": {}})
                client.send(
                    {
                        "method": "textDocument/didOpen",
                        "params": {
                            "textDocument": {
                                "uri": config.as_uri(),
                                "languageId": "jsonc",
                                "version": 1,
                                "text": config.read_text(),
                            }
                        },
                    }
                )
        client.send({"id": 2, "method": "shutdown"})
        while client.receive(deadline).get("id") != 2:
            pass
        client.send({"method": "exit"})
        assert proc.wait(timeout=10) == 0
        assert init is not None
        return {"initialize": init, "published": published}
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode(errors="replace")
        assert "workspace code ran" not in stderr, stderr


def test_bundled_server_from_the_vsix_never_imports_workspace_code(
    unpacked: Path, installed: Path, tmp_path: Path
):
    """The command the packaged extension builds by default (no settings: python3 from PATH,
    the bundled server) runs from the unpacked .vsix over stdio: it answers initialize, reports
    the example's diagnostics with a rule link to the page shipped in the .vsix, and imports
    nothing of a workspace that holds `server/`, `durable_harden.py`, `pygls.py` and `json.py`,
    even with that workspace on PYTHONPATH."""
    project, marker = hostile_workspace(tmp_path)
    path = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    answer = call_bundle(
        unpacked,
        installed,
        "resolveServerCommand",
        {},
        {"PATH": path},
        {"extensionPath": str(unpacked), "workspaceFolders": [str(project)], "trusted": True},
    )
    command = answer["result"]
    assert command["args"] == ["-I", str(unpacked / "bundled" / "tool" / "launch.py"), "serve"]
    assert command["cwd"] == str(unpacked)
    assert command["source"] == "PATH"
    env = {"PATH": path, "HOME": str(tmp_path), "PYTHONPATH": str(project)}
    got = serve_and_check(command, project, env)
    assert not marker.exists(), marker.read_text()
    assert got["initialize"]["serverInfo"] == {
        "name": "durable-harden",
        "version": server_lsp.VERSION,
    }
    by_code = {d["code"]: d for d in got["published"]["diagnostics"]}
    assert "binding-missing-migration" in by_code, sorted(by_code)
    href = by_code["binding-missing-migration"]["codeDescription"]["href"]
    page = unpacked / "bundled" / "libs" / "durable_harden" / "docs" / "rules"
    assert href == (page / "binding-missing-migration.md").as_uri()
    assert (page / "binding-missing-migration.md").read_text().startswith("# binding-missing")


def test_from_environment_falls_back_to_the_bundled_server(
    unpacked: Path, installed: Path, tmp_path: Path
):
    """importStrategy fromEnvironment with an interpreter whose environment has no
    durable-harden: the launcher says so on stderr and runs the bundled one."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    project, marker = hostile_workspace(tmp_path)
    answer = call_bundle(
        unpacked,
        installed,
        "resolveServerCommand",
        {"interpreter": str(python), "importStrategy": "fromEnvironment"},
        {"PATH": "/usr/bin:/bin"},
        {"extensionPath": str(unpacked), "workspaceFolders": [str(project)], "trusted": True},
    )
    command = answer["result"]
    assert command["command"] == str(python) and command["source"] == "interpreter"
    assert command["args"][-2:] == ["--from-environment", "serve"]
    done = subprocess.run(
        [command["command"], *command["args"][:-1], "--version"],
        cwd=command["cwd"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"durable-harden {server_lsp.VERSION}"
    assert "not installed in" in done.stderr and "using the bundled server" in done.stderr
    assert not marker.exists()


def test_no_python_found_names_what_works(unpacked: Path, installed: Path, tmp_path: Path):
    answer = call_bundle(
        unpacked,
        installed,
        "resolveServerCommand",
        {},
        {"PATH": str(tmp_path)},
        {"extensionPath": str(unpacked)},
    )
    assert answer["name"] == "ServerNotFound"
    assert "Python 3.11" in answer["error"]
    assert "pip install durable-harden" not in answer["error"]
    assert "python3 -m pip install ." in answer["error"]


INSTALL_CODE_SERVER = EXT / "scripts" / "install-code-server.sh"


@pytest.fixture(scope="module")
def code_server() -> Path:
    """code-server and puppeteer-core from npm, Debian's chromium: installed by the script into
    a cache folder outside the repository (~/.cache/durable-harden/code-server-<version>, or
    DH_CODE_SERVER_DIR) on the first run, reused afterwards."""
    done = subprocess.run(
        ["bash", str(INSTALL_CODE_SERVER)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert (folder / "node_modules" / "code-server" / "out" / "node" / "entry.js").is_file()
    assert shutil.which("chromium"), "chromium not installed (apt-get install -y chromium)"
    return folder


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_code_server(
    code_server: Path,
    vsix: Path,
    tmp_path: Path,
    project: Path,
    settings: dict[str, Any] | None,
    mode: str,
    env_extra: dict[str, str],
    also: tuple[Path, ...] = (),
) -> str:
    """Installs the .vsix (and only the `also` ones besides) into a fresh code-server profile,
    opens the project in headless chromium and runs vscode_e2e.mjs in `mode`; returns the
    extension's own log."""
    import signal

    node = code_server / "node" / "bin" / "node"
    entry = code_server / "node_modules" / "code-server" / "out" / "node" / "entry.js"
    data, extensions = tmp_path / "data", tmp_path / "extensions"
    (data / "User").mkdir(parents=True)
    if settings is not None:
        (data / "User" / "settings.json").write_text(json.dumps(settings))
    env = {
        **env_extra,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "share"),
    }
    common = [str(node), str(entry), "--user-data-dir", str(data)]
    common += ["--extensions-dir", str(extensions)]
    for package in (vsix, *also):
        installed = subprocess.run(
            [*common, "--install-extension", str(package)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert "successfully installed" in installed.stdout
    assert len([p for p in extensions.iterdir() if p.is_dir()]) == 1 + len(also)
    assert (extensions / f"durable-harden.durable-harden-{server_lsp.VERSION}").is_dir()
    port = _free_port()
    log_path = tmp_path / "code-server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            *common,
            "--bind-addr",
            f"127.0.0.1:{port}",
            "--auth",
            "none",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "HTTP server listening" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "code-server did not start"
            time.sleep(0.2)
        done = subprocess.run(
            [
                str(node),
                str(ROOT / "tests" / "editors" / "vscode_e2e.mjs"),
                str(code_server / "node_modules" / "puppeteer-core"),
                f"http://127.0.0.1:{port}",
                str(project),
                str(shutil.which("chromium")),
                mode,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        print(done.stdout)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    logs = list(data.glob("logs/*/exthost*/durable-harden.durable-harden/Durable Harden.log"))
    assert logs, "no extension log"
    return done.stdout + "\n".join(p.read_text() for p in logs)


def test_code_server_default_route_only_the_vsix(code_server: Path, vsix: Path, tmp_path: Path):
    """Real VS Code with ONLY the built .vsix installed and NO settings: the bundled server
    starts with python3 from PATH, opening the example shows our diagnostics, the quick fix
    applies, and nothing of the workspace (a malicious server/, durable_harden.py, json.py)
    ran."""
    project, marker = hostile_workspace(tmp_path)
    path = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    text = run_code_server(code_server, vsix, tmp_path, project, None, "quickfix", {"PATH": path})
    assert "quick fix applied" in text
    assert f"language status: Durable Harden {server_lsp.VERSION}running; " in text
    launcher = "bundled/tool/launch.py serve (from PATH, useBundled"
    assert re.search(r"starting \S*python3? -I \S+" + re.escape(launcher), text), text
    assert f"server durable-harden {server_lsp.VERSION} running" in text
    assert not marker.exists(), marker.read_text()
    assert "workspace code ran" not in text


def test_code_server_interpreter_setting_and_fix_all_on_save(
    code_server: Path, vsix: Path, tmp_path: Path
):
    """durableHarden.interpreter set: that Python runs the bundled server; a diagnostic shows,
    the palette has the commands, fix-all on save writes the fix to disk."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "rate-limiter", project)
    settings = {
        "durableHarden.interpreter": sys.executable,
        "durableHarden.debounceMs": 20,
        "editor.codeActionsOnSave": {"source.fixAll.durable-harden": "explicit"},
        "workbench.startupEditor": "none",
        "telemetry.telemetryLevel": "off",
    }
    text = run_code_server(
        code_server, vsix, tmp_path, project, settings, "save", {"PATH": "/usr/bin:/bin"}
    )
    assert "fix-all on save applied" in text
    # the extension's own log: started from the interpreter setting, and the server took the
    # settings without complaint (server stderr lands here as [error] lines: pygls warns about
    # late cancellations there, so only settings messages are looked for)
    assert f"starting {sys.executable} -I " in text, text
    assert "(from interpreter, useBundled" in text, text
    assert "unknown key" not in text and "settings ignored" not in text, text


def test_code_server_enable_false_for_the_folder(code_server: Path, vsix: Path, tmp_path: Path):
    """`durableHarden.enable: false` in the folder's .vscode/settings.json (resource scope):
    the server is not started, the language status says disabled, no problem is reported."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "rate-limiter", project)
    (project / ".vscode").mkdir()
    (project / ".vscode" / "settings.json").write_text('{ "durableHarden.enable": false }\n')
    path = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    text = run_code_server(code_server, vsix, tmp_path, project, None, "disabled", {"PATH": path})
    assert "no durable-harden problems" in text
    assert "durableHarden.enable is off: the server is not started" in text
    assert "starting " not in text


def test_code_server_interpreter_from_the_python_extension_api(
    code_server: Path, vsix: Path, installed: Path, tmp_path: Path
):
    """With an extension of id ms-python.python installed, the interpreter comes from its
    `environments` API (getActiveEnvironmentPath -> resolveEnvironment -> executable.uri); a
    change of durableHarden.interpreter in the folder's settings then restarts the server with
    that one.
    The real Python extension is not downloaded here: tests/editors/fake-python-extension is a
    stand-in with the API's shape that answers with a wrapper around this Python."""
    fake_src = ROOT / "tests" / "editors" / "fake-python-extension"
    fake = tmp_path / "fake-python"
    shutil.copytree(fake_src, fake)
    fake_vsix = tmp_path / "ms-python.python.vsix"
    done = subprocess.run(
        [
            str(installed / ".bin" / "vsce"),
            "package",
            "--no-dependencies",
            "--allow-missing-repository",
            "--skip-license",
            "--out",
            str(fake_vsix),
        ],
        cwd=fake,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    env_bin = tmp_path / "selected-env" / "bin"
    env_bin.mkdir(parents=True)
    python = env_bin / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "rate-limiter", project)
    text = run_code_server(
        code_server,
        vsix,
        tmp_path,
        project,
        None,
        "restart",
        # no python3 on this PATH: only the Python extension's answer can start the server
        {
            "PATH": "/usr/local/nonexistent",
            "DH_FAKE_PYTHON": str(python),
            "DH_RESTART_PYTHON": sys.executable,
            "DH_DATA": str(tmp_path / "data"),
        },
        also=(fake_vsix,),
    )
    first, _, after = text.partition("restarting")
    assert f"starting {python} -I " in first
    assert "(from python-extension, useBundled" in first
    assert f"server durable-harden {server_lsp.VERSION} running" in first
    # then the settings change restarted it with the configured interpreter
    assert "restarted with the new interpreter" in text
    assert f"starting {sys.executable} -I " in after
    assert "(from interpreter, useBundled" in after
