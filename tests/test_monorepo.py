"""A monorepo: two Workers, each with its own wrangler config, sharing one DO package."""

from __future__ import annotations

from pathlib import Path

from durable_harden.analyzers.analysis import Settings, analyze_paths

SHARED_ROOM = """
import { DurableObject } from "cloudflare:workers";

export class Room extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, body TEXT)",
      );
    });
  }

  record(body: string) {
    this.ctx.storage.sql.exec("INSERT INTO events (at, body) VALUES (?, ?)", Date.now(), body);
  }
}
"""

WORKER = """
{
  // {name}: binds the shared Room class
  "name": "{name}",
  "main": "src/index.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "ROOMS", "class_name": "Room" }] },
  {migrations}
}
"""


def worker_config(name: str, with_migration: bool) -> str:
    migrations = (
        '"migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room"] }]'
        if with_migration
        else '"migrations": []'
    )
    return WORKER.replace("{name}", name).replace("{migrations}", migrations)


def test_two_workers_sharing_a_do_package(project):
    root = project(
        {
            "packages/rooms/src/room.ts": SHARED_ROOM,
            "packages/rooms/src/index.ts": 'export { Room } from "./room";\n',
            "apps/api/wrangler.jsonc": worker_config("api", with_migration=True),
            "apps/api/src/index.ts": """
            export { Room } from "../../../packages/rooms/src/index";
            export default {
              async fetch(request: Request, env: { ROOMS: DurableObjectNamespace }) {
                return env.ROOMS.getByName(new URL(request.url).pathname).fetch(request);
              },
            };
            """,
            "apps/admin/wrangler.jsonc": worker_config("admin", with_migration=False),
            "apps/admin/src/index.ts": """
            import { Room } from "../../../packages/rooms/src/room";
            export default {
              async fetch(request: Request, env: { ROOMS: DurableObjectNamespace }) {
                return new Response(String(Room.name));
              },
            };
            """,
        }
    )
    result = analyze_paths([root], Settings())
    found = sorted((f.path.relative_to(root).as_posix(), f.rule_id) for f in result.findings)
    assert found == [
        # admin imports the class but never exports it, and has no migration for it
        ("apps/admin/wrangler.jsonc", "binding-missing-migration"),
        ("apps/admin/wrangler.jsonc", "class-not-exported"),
        # the shared table grows: reported once, in the shared package, not once per Worker
        ("packages/rooms/src/room.ts", "unbounded-table-growth"),
    ]
    model = result.model
    assert {c.path.parent.name for c in model.configs} == {"api", "admin"}
    (room,) = model.classes
    # the class is bound by both Workers; each Worker's config is found for its own files
    assert {c.name for c in model.configs_binding("Room")} == {"api", "admin"}
    assert model.config_for_path(root / "apps/admin/src/index.ts").name == "admin"
    assert model.config_for_class(room) is not None


def test_a_binding_names_its_own_projects_class_not_a_same_named_one_elsewhere(
    tmp_path: Path,
) -> None:
    # two Workers side by side; only `a` binds `Store`. b's plain `Store` class (a cache, not a
    # Durable Object) must not become one because a sibling project binds the name, and the
    # result must not change with the folder the analysis starts from.
    for name, binds in (("a", True), ("b", False)):
        (tmp_path / name / "src").mkdir(parents=True)
        (tmp_path / name / "src" / "index.ts").write_text(
            "export class Store {\n  load() { setInterval(() => {}, 1000); }\n}\n"
        )
        bindings = '"durable_objects": { "bindings": [{ "name": "S", "class_name": "Store" }] }, '
        (tmp_path / name / "wrangler.jsonc").write_text(
            f'{{ "name": "{name}", "main": "src/index.ts", '
            f'{bindings if binds else ""}"compatibility_date": "2026-01-01" }}\n'
        )
    whole = analyze_paths([tmp_path])
    assert sorted(c.file.path.parent.parent.name for c in whole.model.classes) == ["a"]
    one = analyze_paths([tmp_path / "a"])
    assert [f.rule_id for f in one.findings] == [f.rule_id for f in whole.findings]
