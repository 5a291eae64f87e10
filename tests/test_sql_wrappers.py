"""SQL that reaches exec() through the project's own wrappers (analyzers.sqlwrappers): SQL inside
objects and arrays, wrappers in other files (imported functions, base-class methods, helper
classes reached through a typed field), wrappers of wrappers, and what is not followed."""

from __future__ import annotations

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._sqlexec import binding_args, literal_is_inline
from durable_harden.analyzers.sql import ELEMENT

WRANGLER = """{
  "name": "w", "main": "src/room.ts", "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "ROOM", "class_name": "Room" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room"] }]
}"""


def model_of(project, files, select=("unused-suppression",)) -> ProjectModel:
    root = project({"wrangler.jsonc": WRANGLER, **files})
    return analyze_paths([root], Settings(select=list(select))).model


def run_texts(model: ProjectModel) -> list[str]:
    """The statements the project runs (loose literals are schema only, not queries)."""
    return sorted(s.text.strip() for s in model.statements if not s.loose)


def test_sql_inside_objects_and_arrays_reaches_exec(project):
    model = model_of(
        project,
        {
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            type Q = { sql: string; params: unknown[] };
            export class Room extends DurableObject {
              private querySql(queries: Q[]) {
                for (const q of queries) this.ctx.storage.sql.exec(q.sql, ...q.params);
              }
              private mapped(queries: Q[]) {
                return queries.map(({ sql, params }) => this.ctx.storage.sql.exec(sql, ...params));
              }
              private one(stmt: { query: string; args: unknown[] }) {
                const { query, args } = stmt;
                return this.ctx.storage.sql.exec(query, ...args);
              }
              private indexed(list: Q[]) {
                return this.ctx.storage.sql.exec(list[0].sql);
              }
              a(id: string) {
                this.querySql([
                  { sql: "SELECT * FROM a WHERE id = ?", params: [id] },
                  { sql: `DELETE FROM a WHERE id = ?`, params: [id] },
                ]);
              }
              b() {
                const batch = [{ sql: "SELECT * FROM b", params: [] }];
                this.mapped(batch);
              }
              c(x: number) {
                this.one({ query: "INSERT INTO c (x) VALUES (?)", args: [x] });
              }
              d() {
                this.indexed([{ sql: "SELECT * FROM d", params: [] }]);
              }
            }
            """
        },
    )
    assert run_texts(model) == [
        "DELETE FROM a WHERE id = ?",
        "INSERT INTO c (x) VALUES (?)",
        "SELECT * FROM a WHERE id = ?",
        "SELECT * FROM b",
        "SELECT * FROM d",
    ]
    first = next(s for s in model.statements if s.text.startswith("SELECT * FROM a"))
    assert first.wrapper is not None and first.wrapper.path == (ELEMENT, "sql")
    assert first.cls is not None and first.cls.name == "Room" and first.method == "a"
    # the call's arguments are not exec's bindings: counts are unknown, nothing is edited there
    assert first.has_spread_binding and first.binding_start is None
    assert binding_args(first) == [] and not literal_is_inline(first)
    insert = next(s for s in model.statements if s.kind == "INSERT")
    assert insert.wrapper is not None and insert.wrapper.path == ("query",)


def test_wrappers_in_other_files_are_followed(project):
    model = model_of(
        project,
        {
            "src/db.ts": """
            export function all(storage: SqlStorage, text: string, ...args: unknown[]) {
              return storage.exec(text, ...args).toArray();
            }
            export const first = (storage: SqlStorage, text: string, ...args: unknown[]) =>
              all(storage, text, ...args)[0];
            """,
            "src/store.ts": """
            export class Store {
              constructor(private sql: SqlStorage) {}
              rows(q: string, ...b: unknown[]) { return this.sql.exec(q, ...b).toArray(); }
              row(q: string, ...b: unknown[]) { return this.rows(q, ...b)[0]; }
            }
            """,
            "src/base.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Base extends DurableObject {
              protected run(text: string, ...args: unknown[]) {
                return this.ctx.storage.sql.exec(text, ...args);
              }
            }
            """,
            "src/room.ts": """
            import { Base as Parent } from "./base";
            import { first as firstRow } from "./db";
            import * as db from "./db";
            import { Store } from "./store";
            export class Room extends Parent {
              store = new Store(this.ctx.storage.sql);
              a() { return this.run("SELECT 1 FROM base_t WHERE k = ?", 1); }
              b() { return firstRow(this.ctx.storage.sql, "SELECT 1 FROM alias_t"); }
              c() { return db.all(this.ctx.storage.sql, "SELECT 1 FROM ns_t"); }
              d() { return this.store.row("SELECT 1 FROM typed_t WHERE k = ? AND j = ?", 1, 2); }
            }
            """,
        },
    )
    assert run_texts(model) == [
        "SELECT 1 FROM alias_t",
        "SELECT 1 FROM base_t WHERE k = ?",
        "SELECT 1 FROM ns_t",
        "SELECT 1 FROM typed_t WHERE k = ? AND j = ?",
    ]
    typed = next(s for s in model.statements if "typed_t" in s.text)
    # row() -> rows() -> exec(): the further arguments reach exec() one for one
    assert typed.wrapper is not None and typed.wrapper.forwards
    assert typed.bindings == 2 and not typed.has_spread_binding
    assert [a.text for a in binding_args(typed)] == [b"1", b"2"]
    assert literal_is_inline(typed)
    # the wrapper takes the SQL as its second parameter: the bindings start after it
    aliased = next(s for s in model.statements if "alias_t" in s.text)
    assert aliased.binding_start == 2 and binding_args(aliased) == []
    assert not literal_is_inline(aliased)


def test_what_is_not_followed(project):
    model = model_of(
        project,
        {
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            class Other {
              query(text: string) { return text.length; }
            }
            export class Room extends DurableObject {
              private bind(value: string) {
                return this.ctx.storage.sql.exec("SELECT * FROM t WHERE v = ?", value);
              }
              private query(text: string, ...args: unknown[]) {
                return this.ctx.storage.sql.exec(text, ...args);
              }
              a(helper: any, other: Other) {
                // a binding parameter is not SQL; an untyped or unrelated receiver is not ours
                this.bind("SELECT not_sql FROM x");
                helper.query("SELECT * FROM helper_t");
                other.query("SELECT * FROM other_t");
                // a runtime string is not guessed
                const built = ["SELECT", "1"].join(" ");
                this.query(built);
              }
            }
            """
        },
    )
    assert run_texts(model) == ["SELECT * FROM t WHERE v = ?"]


def test_wrapper_taking_an_array_of_bindings_is_not_counted(project):
    """`query(sql, params: unknown[])` -> `exec(sql, ...params)`: the call's arguments are not
    the bindings one for one, so sql-bindings-mismatch must not count them."""
    root = project(
        {
            "wrangler.jsonc": WRANGLER,
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Room extends DurableObject {
              private query(sql: string, params: unknown[] = []) {
                return this.ctx.storage.sql.exec(sql, ...params);
              }
              private plain(sql: string, ...params: unknown[]) {
                return this.ctx.storage.sql.exec(sql, ...params);
              }
              a(x: string, y: string) {
                this.query("SELECT * FROM t WHERE a = ? AND b = ?", [x, y]);
                this.plain("SELECT * FROM t WHERE a = ? AND b = ?", x);
              }
            }
            """,
        }
    )
    result = analyze_paths([root], Settings(select=["sql-bindings-mismatch"]))
    assert [f.message for f in result.findings] == [
        "This exec() has 2 parameters but 1 argument: it throws `Wrong number of parameter "
        "bindings`."
    ]
    span = result.findings[0].span
    assert span.path.read_bytes()[span.start : span.end].decode().endswith("b = ?")
    line = span.path.read_bytes()[: span.start].count(b"\n") + 1
    assert "this.plain(" in span.path.read_text().splitlines()[line - 1]
