"""`durable-harden inspect`: the project model as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from durable_harden.server.cli import main

ROOM = """import { DurableObject } from "cloudflare:workers";
import { makeCounter } from "./factory";
export { Imported } from "some-package";
export { Files as Storage } from "./files";
export class Room extends DurableObject {
  sql = this.ctx.storage.sql;
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.sql.exec("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, at INTEGER)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS idx_messages_at ON messages(at)");
  }
  add() {
    this.sql.exec("INSERT INTO messages (at) VALUES (?)", Date.now());
  }
  async alarm() {
    this.sql.exec("DELETE FROM messages WHERE at < ?", Date.now() - 1000);
  }
}
export const { Counter } = makeCounter();
"""
FILES = """export class Files {
  read(): number {
    return 1;
  }
}
"""
CONFIG = """{
  "name": "chat", "main": "src/index.ts", "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [
    { "name": "ROOM", "class_name": "Room" }, { "name": "C", "class_name": "Counter" },
    { "name": "I", "class_name": "Imported" }, { "name": "S", "class_name": "Storage" },
    { "name": "G", "class_name": "Gone" }
  ] },
  "env": { "production": { "name": "chat-prod" } }
}
"""


def test_inspect_prints_projects_classes_tables_and_bound_classes(tmp_path: Path, capsys) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.ts").write_text(ROOM)
    (tmp_path / "src" / "files.ts").write_text(FILES)
    (tmp_path / "wrangler.jsonc").write_text(CONFIG)
    assert main(["inspect", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    (project,) = data["projects"]
    assert project["config"] == "wrangler.jsonc" and project["environments"] == ["production"]
    classes = {c["name"]: c for c in data["classes"]}
    room = classes["Room"]
    assert (room["file"], room["line"], room["recognised_by"]) == ("src/index.ts", 5, "extends")
    assert "this.sql" in room["aliases"]["sql"] and room["project"] == "wrangler.jsonc"
    # bound through an export alias: `export { Files as Storage }`
    assert classes["Files"]["recognised_by"] == "binding"
    (messages,) = data["tables"]
    assert messages["columns"] == ["id", "at"]
    assert [i["name"] for i in messages["indexes"] if i["origin"] == "c"] == ["idx_messages_at"]
    assert [(w["method"], w["how"]) for w in messages["pruned_at"]] == [("alarm", "range")]
    assert [w["method"] for w in messages["inserted_at"]] == ["add"]
    bound = {b["class"]: b["how"] for b in data["bound_classes"]}
    assert bound == {
        "Room": "class",
        "Counter": "value",
        "Imported": "package",
        "Storage": "alias",
        "Gone": "missing",
    }


def test_inspect_of_a_missing_path_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
