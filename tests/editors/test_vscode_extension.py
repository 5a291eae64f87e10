"""The VS Code extension (editors/vscode): it installs from its lockfile, type-checks, bundles,
packages into a .vsix, and what it declares matches what the language server really offers.

VS Code itself cannot be downloaded here, so the extension is checked from the outside: the
bundle is loaded in Node with a stand-in `vscode` module (tests/editors/vscode_stub_load.js) to
read the constants it uses (server command names, fix-all kind, settings section and keys),
and those are compared with the server's registrations in server/lsp.py. The server command
the extension builds for `durableHarden.interpreter` is started for real and initialised with
the default settings of package.json.
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
from durable_harden.analyzers.wrangler import CONFIG_NAMES
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
    run(
        [str(vsce), "package", "--no-dependencies", "--allow-missing-repository", "--out", str(out)]
    )
    assert out.is_file()
    return out


@pytest.fixture(scope="module")
def manifest(vsix: Path) -> dict[str, Any]:
    with zipfile.ZipFile(vsix) as archive:
        return json.loads(archive.read("extension/package.json"))


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
        f"the extension executes {sorted(missing)} but server/lsp.py registers only "
        f"{sorted(REGISTERED)}"
    )


def test_every_server_command_is_known_to_the_extension(bundle_exports: dict):
    """A command the server adds or renames must reach the extension (SERVER_COMMANDS)."""
    unknown = REGISTERED - set(bundle_exports["SERVER_COMMANDS"].values())
    assert not unknown, f"server/lsp.py registers {sorted(unknown)}, unknown to the extension"


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


def test_interpreter_command_starts_the_server_with_the_default_settings(
    manifest: dict[str, Any], bundle_exports: dict, tmp_path: Path
):
    """`<python> -m server.cli serve` (durableHarden.interpreter) answers initialize, accepts the
    initializationOptions the extension sends by default without a warning, and advertises the
    fix-all kind and the commands the extension uses."""
    section = bundle_exports["CONFIG_SECTION"]
    props = manifest["contributes"]["configuration"]["properties"]
    options = {k: props[f"{section}.{k}"]["default"] for k in bundle_exports["SERVER_KEYS"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_harden", "serve"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    client = _Stdio(proc)
    try:
        deadline = time.monotonic() + 30
        client.send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": os.getpid(),
                    "rootUri": tmp_path.as_uri(),
                    "capabilities": {},
                    "initializationOptions": options,
                },
            }
        )
        logs: list[str] = []
        while True:
            message = client.receive(deadline)
            if message.get("id") == 1:
                break
            if message.get("method") == "window/logMessage":
                logs.append(message["params"]["message"])
        caps = message["result"]["capabilities"]
        assert server_lsp.FIX_ALL_KIND in caps["codeActionProvider"]["codeActionKinds"]
        offered = set(caps.get("executeCommandProvider", {}).get("commands", []))
        assert offered == REGISTERED  # what the tests above compare is what a client sees
        client.send({"method": "initialized", "params": {}})
        client.send({"id": 2, "method": "shutdown"})
        while True:
            message = client.receive(deadline)
            if message.get("id") == 2:
                break
            if message.get("method") == "window/logMessage":
                logs.append(message["params"]["message"])
        assert not [m for m in logs if "settings" in m], logs
        client.send({"method": "exit"})
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


CODE_SERVER_DIR = Path(os.environ.get("DH_CODE_SERVER_DIR", EXT / ".code-server"))
CODE_SERVER = CODE_SERVER_DIR / "node_modules" / "code-server" / "out" / "node" / "entry.js"
CODE_SERVER_NODE = CODE_SERVER_DIR / "node" / "bin" / "node"
CHROMIUM = shutil.which("chromium")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(
    not (CODE_SERVER.is_file() and CODE_SERVER_NODE.is_file() and CHROMIUM),
    reason="opt-in: code-server not installed (editors/vscode/scripts/install-code-server.sh)",
)
def test_code_server_end_to_end(vsix: Path, tmp_path: Path):
    """The .vsix in real VS Code (code-server): the server starts from durableHarden.interpreter,
    a diagnostic shows, the palette has the commands, fix-all on save writes the fix to disk."""
    import signal

    data, extensions = tmp_path / "data", tmp_path / "extensions"
    (data / "User").mkdir(parents=True)
    (data / "User" / "settings.json").write_text(
        json.dumps(
            {
                "durableHarden.interpreter": sys.executable,
                "durableHarden.debounceMs": 20,
                "editor.codeActionsOnSave": {"source.fixAll.durable-harden": "explicit"},
                "workbench.startupEditor": "none",
                "security.workspace.trust.enabled": False,
                "telemetry.telemetryLevel": "off",
            }
        )
    )
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "rate-limiter", project)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "share"),
        "PYTHONPATH": str(ROOT),  # `python -m server.cli` from this checkout
    }
    common = [
        str(CODE_SERVER_NODE),
        str(CODE_SERVER),
        "--user-data-dir",
        str(data),
        "--extensions-dir",
        str(extensions),
    ]
    installed = subprocess.run(
        [*common, "--install-extension", str(vsix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "successfully installed" in installed.stdout
    port = _free_port()
    log = (tmp_path / "code-server.log").open("w")
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
        deadline = time.monotonic() + 30
        while "HTTP server listening" not in (tmp_path / "code-server.log").read_text():
            assert proc.poll() is None, (tmp_path / "code-server.log").read_text()
            assert time.monotonic() < deadline, "code-server did not start"
            time.sleep(0.2)
        done = subprocess.run(
            [
                str(CODE_SERVER_NODE),
                str(ROOT / "tests" / "editors" / "vscode_e2e.mjs"),
                str(CODE_SERVER_DIR / "node_modules" / "puppeteer-core"),
                f"http://127.0.0.1:{port}",
                str(project),
                str(CHROMIUM),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
        )
        print(done.stdout)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "fix-all on save applied" in done.stdout
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    # the extension's own log: started from the interpreter setting, and the server took the
    # settings without complaint (server stderr lands here as [error] lines: pygls warns about
    # late cancellations there, so only settings messages are looked for)
    logs = list(data.glob("logs/*/exthost*/durable-harden.durable-harden/Durable Harden.log"))
    assert logs, "no extension log"
    text = "\n".join(p.read_text() for p in logs)
    assert f"starting {sys.executable} -m server.cli serve (from interpreter)" in text
    assert "unknown key" not in text and "settings ignored" not in text, text
