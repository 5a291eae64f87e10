"""The project model: DO classes, aliases, SQL with exact offsets, schema across files."""

from __future__ import annotations

from pathlib import Path

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.model import ProjectModel


def model_of(project, files) -> ProjectModel:
    return analyze_paths([project(files)], Settings(select=["unused-suppression"])).model


def test_do_class_by_import_alias_and_library_bases(project):
    model = model_of(
        project,
        {
            "src/a.ts": """
            import { DurableObject as DO } from "cloudflare:workers";
            import { Agent } from "agents";
            import { Server as PartyServer } from "partyserver";
            export class Room extends DO<Env> {}
            export class Chat extends Agent<Env, State> {}
            export class Party extends PartyServer<Env> {}
            class NotADo extends Map<string, string> {}
            class DurableObjectLookalike extends SomethingElse {}
            """
        },
    )
    assert {(c.name, c.reason) for c in model.classes} == {
        ("Room", "extends"),
        ("Chat", "library"),
        ("Party", "library"),
    }


def test_subclass_in_another_file_and_legacy_style(project):
    model = model_of(
        project,
        {
            "src/z_base.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class BaseRoom extends DurableObject {}
            """,
            "src/a_child.ts": """
            import { BaseRoom } from "./z_base";
            export class GameRoom extends BaseRoom {}
            export class Lobby extends GameRoom {}
            """,
            "src/legacy.ts": """
            export class Counter {
              constructor(private state: DurableObjectState, env: Env) {}
              async fetch(request: Request) { return new Response("ok"); }
            }
            export class Old implements DurableObject {
              async fetch(request: Request) { return new Response("ok"); }
            }
            """,
        },
    )
    reasons = {c.name: c.reason for c in model.classes}
    assert reasons == {
        "BaseRoom": "extends",
        "GameRoom": "subclass",
        "Lobby": "subclass",
        "Counter": "legacy",
        "Old": "legacy",
    }


def test_class_named_in_wrangler_binding_counts(project):
    model = model_of(
        project,
        {
            "wrangler.jsonc": """
            {
              // the class is plain JS-style, known only through the binding
              "main": "src/index.ts",
              "durable_objects": { "bindings": [{ "name": "STORE", "class_name": "Store" }] },
            }
            """,
            "src/index.ts": "export class Store { async fetch() { return new Response(); } }\n",
        },
    )
    assert [(c.name, c.reason) for c in model.classes] == [("Store", "binding")]


def test_storage_aliases_are_followed(project):
    model = model_of(
        project,
        {
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Room extends DurableObject {
              sql = this.ctx.storage.sql;
              private store: DurableObjectStorage;
              constructor(ctx: DurableObjectState, env: Env) {
                super(ctx, env);
                this.store = ctx.storage;
              }
              a() { this.sql.exec("SELECT 1 AS a"); }
              b() { this.store.sql.exec("SELECT 2 AS b"); }
              c() { const { sql } = this.ctx.storage; sql.exec("SELECT 3 AS c"); }
              d() { const db = this.ctx.storage.sql; db.exec("SELECT 4 AS d"); }
            }
            """
        },
    )
    texts = sorted(s.text for s in model.statements)
    assert texts == ["SELECT 1 AS a", "SELECT 2 AS b", "SELECT 3 AS c", "SELECT 4 AS d"]
    assert {s.method for s in model.statements} == {"a", "b", "c", "d"}


def test_sql_offsets_map_back_to_the_typescript_source(project):
    root = project(
        {
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Room extends DurableObject {
              list(room: string, limit: number) {
                // 😀 non-ASCII before the SQL must not shift offsets
                return this.ctx.storage.sql.exec(
                  `SELECT body FROM messages
                   WHERE room = ${room} AND note = 'é\\n' LIMIT ?`,
                  limit,
                );
              }
            }
            """
        }
    )
    model = analyze_paths([root], Settings(select=[])).model
    (stmt,) = model.statements
    data = (root / "src/room.ts").read_bytes()
    span = stmt.find_span(r"WHERE room = \?")
    assert data[span.start : span.end].decode() == "WHERE room = ${room}"
    span = stmt.find_span(r"LIMIT \?")
    assert data[span.start : span.end].decode() == "LIMIT ?"
    assert [s.expression for s in stmt.substitutions] == ["room"]
    assert stmt.bindings == 1
    assert stmt.expression is not None


def test_multi_statement_strings_and_schema_in_another_file(project):
    root = project(
        {
            "src/schema.ts": """
            export const SCHEMA = `
              CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL);
              CREATE INDEX IF NOT EXISTS idx_messages_room ON messages(room);
            `;
            export const MIGRATIONS = [
              "ALTER TABLE messages ADD COLUMN author TEXT",
            ];
            """,
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            import { SCHEMA } from "./schema";
            export class Room extends DurableObject {
              constructor(ctx: DurableObjectState, env: Env) {
                super(ctx, env);
                ctx.blockConcurrencyWhile(async () => { this.ctx.storage.sql.exec(SCHEMA); });
              }
            }
            """,
        }
    )
    model = analyze_paths([root], Settings(select=[])).model
    creates = [s for s in model.statements if s.kind == "CREATE"]
    assert len(creates) == 2
    assert {s.file.path.name for s in creates} == {"schema.ts"}
    assert all(s.cls is not None and s.cls.name == "Room" for s in creates)
    schema = model.schema_for(root / "src/room.ts")
    table = schema.table("messages")
    assert table is not None
    assert table.columns == ["id", "room", "author"]  # the loose ALTER in the array counts
    assert table.primary_key == ["id"]
    assert "idx_messages_room" in schema.indexes
    plan = schema.plan("SELECT * FROM messages WHERE room = ?")
    assert any("USING INDEX idx_messages_room" in step.detail for step in plan.steps)


def test_agents_sdk_tagged_template(project):
    model = model_of(
        project,
        {
            "src/agent.ts": """
            import { Agent } from "agents";
            export class Chat extends Agent<Env> {
              rows() {
                const a = this.sql<{ id: string }>`SELECT id FROM notes WHERE owner = ${this.name}`;
                const b = this.sql`DELETE FROM notes WHERE id = ${"x"}`;
                return [a, b];
              }
            }
            """
        },
    )
    assert sorted((s.kind, s.tagged) for s in model.statements) == [
        ("DELETE", True),
        ("SELECT", True),
    ]


def test_namespace_accesses_found_across_the_worker(project):
    model = model_of(
        project,
        {
            "wrangler.jsonc": """
            { "main": "src/index.ts",
              "durable_objects": { "bindings": [{ "name": "ROOMS", "class_name": "Room" }] } }
            """,
            "src/index.ts": """
            export default {
              async fetch(request: Request, env: Env) {
                const a = env.ROOMS.idFromName("lobby");
                const b = env.ROOMS.getByName("x");
                const c = env.ROOMS.newUniqueId();
                const v = await env.CACHE.get("k");
                return new Response(String([a, b, c, v]));
              },
            };
            """,
        },
    )
    assert sorted((a.binding, a.method) for a in model.namespace_accesses) == [
        ("ROOMS", "getByName"),
        ("ROOMS", "idFromName"),
        ("ROOMS", "newUniqueId"),
    ]


def test_gitignore_and_build_folders_are_skipped(project):
    root = project(
        {
            ".gitignore": "generated/\n",
            "generated/out.ts": "export class X extends DurableObject {}\n",
            "node_modules/pkg/index.ts": "export const y = 1;\n",
            "dist/index.js": "export const z = 1;\n",
            "src/index.ts": "export const ok = 1;\n",
        }
    )
    model = analyze_paths([root], Settings(select=[])).model
    assert [f.path.relative_to(root).as_posix() for f in model.files] == ["src/index.ts"]


def test_given_file_gets_its_project_context(project):
    root = project(
        {
            "wrangler.jsonc": '{ "main": "src/index.ts" }\n',
            "src/schema.ts": "export const S = `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`;\n",
            "src/index.ts": "export const ok = 1;\n",
        }
    )
    result = analyze_paths([root / "src/index.ts"], Settings(select=[]))
    assert result.model.schema_for(root / "src/index.ts").table("t") is not None
    assert isinstance(result.model.root, Path)


def test_subclass_inherits_storage_aliases_of_a_base_in_another_file(project):
    model = model_of(
        project,
        {
            "src/base.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Base extends DurableObject {
              protected db: SqlStorage;
              constructor(ctx: DurableObjectState, env: unknown) {
                super(ctx, env);
                this.db = ctx.storage.sql;
              }
            }
            """,
            "src/room.ts": """
            import { Base } from "./base";
            export class Room extends Base {
              add(text: string) {
                this.db.exec("INSERT INTO messages (text) VALUES (?)", text);
              }
            }
            """,
        },
    )
    room = next(c for c in model.classes if c.name == "Room")
    assert "this.db" in room.aliases.sql
    assert [s.cls.name for s in model.statements if s.cls is not None] == ["Room"]


def test_class_expressions_named_by_variable_or_factory(project):
    model = model_of(
        project,
        {
            "src/a.ts": """
            import { DurableObject } from "cloudflare:workers";
            export const Counter = class extends DurableObject {};
            export function createRoom(topic: string) {
              return class extends DurableObject {
                topic = topic;
              };
            }
            const makeLobby = () => class extends DurableObject {};
            """
        },
    )
    assert sorted(c.name for c in model.classes) == ["Counter", "createRoom", "makeLobby"]


def test_sql_through_the_class_or_file_wrapper_is_followed(project):
    model = model_of(
        project,
        {
            "src/a.ts": """
            import { DurableObject } from "cloudflare:workers";
            function run(storage: DurableObjectStorage, text: string, ...args: unknown[]) {
              return storage.sql.exec(text, ...args);
            }
            export class Room extends DurableObject {
              private query(sql: string, ...params: unknown[]) {
                return this.ctx.storage.sql.exec(sql, ...params);
              }
              list(room: string) {
                return this.query("SELECT * FROM messages WHERE room = ?", room).toArray();
              }
              clear() {
                run(this.ctx.storage, "DELETE FROM messages");
              }
            }
            """
        },
    )
    texts = sorted(s.text for s in model.statements if not s.loose)
    assert texts == ["DELETE FROM messages", "SELECT * FROM messages WHERE room = ?"]
    select = next(s for s in model.statements if s.text.startswith("SELECT"))
    assert select.bindings == 1 and select.method == "list" and select.cls.name == "Room"
