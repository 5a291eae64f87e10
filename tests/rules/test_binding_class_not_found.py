"""binding-class-not-found: a binding to a class no file declares."""

from __future__ import annotations

from pathlib import Path

import json5

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import apply_fix, run, text_of

RULE = "binding-class-not-found"


def _project(root: Path, main: str) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        """{
  "main": "src/index.ts",
  "durable_objects": {
    "bindings": [
      { "name": "ROOMS", "class_name": "ChatRom" }, // typo
      { "name": "LOBBY", "class_name": "Lobby" },
      { "name": "EXTERNAL", "class_name": "Billing", "script_name": "billing" },
      { "name": "PKG", "class_name": "Presence" }
    ]
  }
}
"""
    )
    (root / "src" / "index.ts").write_text(main)
    (root / "src" / "rooms.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class ChatRoom extends DurableObject {}\n"
        "export class Lobby extends DurableObject {}\n"
    )
    return root


MAIN = 'export * from "./rooms";\nexport { Presence } from "@acme/presence";\n'


def test_missing_class_reported_package_and_script_name_bindings_not(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", MAIN)
    findings, _ = run(RULE, root)
    assert [(text_of(f), f.data["suggestion"]) for f in findings] == [('"ChatRom"', "ChatRoom")]
    # class-not-exported leaves it to this rule
    assert run("class-not-exported", root)[0] == []


def test_unsafe_fix_binds_the_close_class(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", MAIN)
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert not fix.is_safe and "renamed_classes" in fix.review
    before = (root / "wrangler.jsonc").read_text()
    apply_fix(fix)
    after = (root / "wrangler.jsonc").read_text()
    assert after == before.replace('"ChatRom" }, // typo', '"ChatRoom" }, // typo')
    json5.loads(after)
    assert run(RULE, root)[0] == []


def test_no_suggestion_when_nothing_is_close(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", MAIN)
    config = root / "wrangler.jsonc"
    config.write_text(config.read_text().replace("ChatRom", "Inventory"))
    findings, model = run(RULE, root)
    assert [f.data["suggestion"] for f in findings] == [None]
    assert fixes_for(findings[0], model) == []
