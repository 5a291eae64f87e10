"""Resource-scoped editor settings: each workspace folder's own `durable-harden` section.

VS Code answers `workspace/configuration` per folder (`scopeUri`) with that folder's settings
(`.vscode/settings.json` of the folder); the server asks for each folder and applies the
deepest folder's answer to its files, under the nearest settings file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.lsp.conftest import DO_FILE, make_project
from tests.lsp.rpc import RpcServer

# a timer armed outside any request, that outlives it: reported unless the settings say not
TIMER_FILE = DO_FILE.replace(
    "  tick() {}", "  start() {\n    setInterval(() => this.tick(), 5000);\n  }\n\n  tick() {}"
)

RULE = "timer-blocks-hibernation"


def _rules(rpc: RpcServer, path: Path) -> set[str]:
    uri = path.as_uri()
    rpc.notify(
        "textDocument/didOpen",
        {
            "textDocument": {
                "uri": uri,
                "languageId": "typescript",
                "version": 1,
                "text": path.read_text(),
            }
        },
    )
    answer = rpc.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
    return {d.get("code") for d in answer["result"]["items"]}


def test_each_folder_gets_its_own_settings(tmp_path: Path) -> None:
    quiet = make_project(tmp_path / "quiet", TIMER_FILE)
    loud = make_project(tmp_path / "loud", TIMER_FILE)
    asked: list[list[dict[str, Any]]] = []

    def configuration(params: dict[str, Any]) -> list[Any]:
        asked.append(params["items"])
        # the global answer (no scopeUri) and the loud folder's: nothing; the quiet folder's
        # own settings turn the rule off
        return [
            {"ignore": [RULE]} if item.get("scopeUri") == quiet.as_uri() else None
            for item in params["items"]
        ]

    rpc = RpcServer(tmp_path)
    try:
        rpc.answers["workspace/configuration"] = configuration
        rpc.request(
            "initialize",
            {
                "processId": None,
                "rootUri": tmp_path.as_uri(),
                "workspaceFolders": [
                    {"uri": quiet.as_uri(), "name": "quiet"},
                    {"uri": loud.as_uri(), "name": "loud"},
                ],
                "capabilities": {
                    "workspace": {"configuration": True},
                    "textDocument": {"diagnostic": {}},
                },
                "initializationOptions": {"debounceMs": 10},
            },
        )
        rpc.notify("initialized", {})
        rpc.drain(1.0)
        scopes = {item.get("scopeUri") for items in asked for item in items}
        assert {quiet.as_uri(), loud.as_uri()} <= scopes  # asked per folder
        assert RULE in _rules(rpc, loud / "src" / "ticker.ts")
        assert RULE not in _rules(rpc, quiet / "src" / "ticker.ts")
    finally:
        rpc.close()
