"""The JSON schema of `durable-harden.jsonc`, shipped in the package next to the settings reader
(analyzers/durable-harden.schema.json) and generated from the rule registry:

    python -m durable_harden.server.settings_schema          # rewrite the file
    python -m durable_harden.server.settings_schema --check  # exit 1 when it is stale (a test runs it)

Editors (VS Code's JSON language service, taplo, …) find it through the file's `"$schema"` key.
The schema lists the rule ids, groups and ALL so an editor completes them; the tool itself also
takes id prefixes and any case, which the schema allows with a pattern.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from durable_harden.analyzers.rules import ALL, GROUPS, all_rules

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "analyzers" / "durable-harden.schema.json"
SCHEMA_URL = (
    "https://raw.githubusercontent.com/durable-harden/durable-harden/main/"
    "analyzers/durable-harden.schema.json"
)


def build_schema() -> dict[str, Any]:
    names = [r.id for r in all_rules()] + sorted(GROUPS) + [ALL]
    selector: dict[str, Any] = {
        "anyOf": [
            {"enum": names},
            {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9-]*$"},
        ],
        "description": "A rule id, a group, an id prefix (`websocket` = every `websocket-*` "
        "rule) or ALL; any case.",
    }
    selectors = {"type": "array", "items": selector, "uniqueItems": True}
    level = {"enum": ["error", "warning", "info", "hint", "off"]}
    patterns = {"type": "array", "items": {"type": "string"}}
    properties: dict[str, Any] = {
        "$schema": {"type": "string"},
        "select": {**selectors, "description": "Rules to run (default: every rule)."},
        "extendSelect": {**selectors, "description": "Rules to run in addition to `select`."},
        "ignore": {**selectors, "description": "Rules never to run."},
        "severity": {
            "type": "object",
            "description": "Severity per rule or group; `off` turns the rule off.",
            "propertyNames": selector,
            "additionalProperties": level,
        },
        "unsafeFixes": {
            "type": "boolean",
            "description": "Fix-all, `harden` and `check --fix` also apply unsafe fixes.",
        },
        "exclude": {
            **patterns,
            "description": "gitignore-style patterns, relative to this file's folder, of files "
            "not to check.",
        },
        "perFileIgnores": {
            "type": "object",
            "description": "gitignore-style pattern (relative to this file's folder) -> rules "
            "not to run on the files it matches.",
            "additionalProperties": selectors,
        },
    }
    for alias, name in (
        ("unsafe_fixes", "unsafeFixes"),
        ("extend_select", "extendSelect"),
        ("per_file_ignores", "perFileIgnores"),
    ):
        properties[alias] = {**properties[name], "description": f"Same as `{name}`."}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_URL,
        "title": "durable-harden settings (durable-harden.jsonc)",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def render() -> str:
    return json.dumps(build_schema(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is stale: run python -m durable_harden.server.settings_schema")
            return 1
        return 0
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
