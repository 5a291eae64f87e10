"""How the project's DDL is replayed into the model's schema, and how parameters spliced in from
constants are counted: classes met on real code through project wrappers (a migration that
rebuilds a table under a temporary name; `${CTE} SELECT … WHERE x = ?` with the CTE's own `?`)."""

from __future__ import annotations

from durable_harden.analyzers.analysis import Settings, analyze_paths

WRANGLER = """{
  "name": "w", "main": "src/room.ts", "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "ROOM", "class_name": "Room" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room"] }]
}"""

REBUILD = """
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, k TEXT, v TEXT)`);
    ctx.storage.sql.exec(`CREATE INDEX IF NOT EXISTS items_by_k ON items(k)`);
  }
  private migrateToWithoutRowid(): void {
    const sql = this.ctx.storage.sql;
    sql.exec(`ALTER TABLE items RENAME TO items_old`);
    sql.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT, owner TEXT) WITHOUT ROWID`);
    sql.exec(`INSERT INTO items (id, k, v) SELECT id, k, v FROM items_old`);
    sql.exec(`DROP TABLE items_old`);
    sql.exec(`CREATE INDEX items_by_k ON items(k)`);
  }
  byOwner(owner: string) {
    return this.ctx.storage.sql.exec("SELECT id FROM items WHERE owner = ? LIMIT 10", owner).toArray();
  }
}
"""


def test_a_table_rebuilt_by_a_migration_ends_in_its_new_shape(project):
    root = project({"wrangler.jsonc": WRANGLER, "src/room.ts": REBUILD})
    result = analyze_paths(
        [root], Settings(select=["schema-change-without-migration", "sql-missing-index"])
    )
    schema = result.model.schema_for(root / "src" / "room.ts")
    assert set(schema.tables) == {"items"}  # the temporary copy is dropped
    items = schema.table("items")
    assert items is not None and "owner" in items.columns and items.without_rowid
    assert "items_by_k" in [i.name for i in schema.indexes_of("items")]
    # reading the copy inside the migration is not a missing table; the new column exists
    assert [f.rule_id for f in result.findings] == ["sql-missing-index"]
    assert "owner" in result.findings[0].message


def test_rename_then_drop_without_a_new_create_is_not_a_rebuild(project):
    """A rename aside whose copy is dropped, with no new CREATE of the old name: the rename is
    not replayed, and the table keeps the shape its `CREATE TABLE IF NOT EXISTS` gives it (which
    re-creates it on the next start anyway)."""
    text = REBUILD.replace(
        "    sql.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT, owner TEXT) WITHOUT ROWID`);\n",
        "",
    )
    root = project({"wrangler.jsonc": WRANGLER, "src/room.ts": text})
    model = analyze_paths([root], Settings(select=["unused-suppression"])).model
    items = model.schema_for(root / "src" / "room.ts").table("items")
    assert items is not None and "owner" not in items.columns  # the CREATE IF NOT EXISTS shape


SPLICED = """
import { DurableObject } from "cloudflare:workers";
const SUBTREE = `WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT n.id FROM nodes n JOIN sub ON n.parent = sub.id)`;
export class Room extends DurableObject {
  hit(root: number, target: number) {
    return this.ctx.storage.sql.exec(`${SUBTREE} SELECT 1 FROM sub WHERE id = ?`, root, target).toArray();
  }
  miss(root: number) {
    return this.ctx.storage.sql.exec(`${SUBTREE} SELECT 1 FROM sub WHERE id = ?`, root).toArray();
  }
}
"""


def test_parameters_of_a_spliced_constant_are_counted(project):
    root = project({"wrangler.jsonc": WRANGLER, "src/room.ts": SPLICED})
    result = analyze_paths([root], Settings(select=["sql-bindings-mismatch"]))
    assert [f.data["params"] for f in result.findings] == [2]
    assert result.findings[0].data["args"] == 1


def test_an_index_every_start_creates_survives_a_rebuild(project):
    """A rebuild drops the old table's indexes (they go with the renamed copy), but the
    constructor's `CREATE INDEX IF NOT EXISTS … ON items` runs again on every start, so the
    steady state has the index on the new table; an index on a column the new table lacks is
    gone. (Found on a corpus class: without this, the index fix was offered again and again.)"""
    text = REBUILD.replace("    sql.exec(`CREATE INDEX items_by_k ON items(k)`);\n", "").replace(
        "ctx.storage.sql.exec(`CREATE INDEX IF NOT EXISTS items_by_k ON items(k)`);",
        "ctx.storage.sql.exec(`CREATE INDEX IF NOT EXISTS items_by_k ON items(k)`);\n"
        "    ctx.storage.sql.exec(`CREATE INDEX IF NOT EXISTS items_by_v ON items(v)`);",
    )
    assert "CREATE INDEX items_by_k" not in text
    root = project({"wrangler.jsonc": WRANGLER, "src/room.ts": text})
    result = analyze_paths([root], Settings(select=["sql-missing-index"]))
    schema = result.model.schema_for(root / "src" / "room.ts")
    assert {i.name for i in schema.indexes_of("items")} >= {"items_by_k", "items_by_v"}
    # the new table without `v`: that index cannot exist on it
    gone = text.replace(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT, owner TEXT)",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, k TEXT NOT NULL, owner TEXT)",
    ).replace(
        "INSERT INTO items (id, k, v) SELECT id, k, v", "INSERT INTO items (id, k) SELECT id, k"
    )
    root2 = project({"wrangler.jsonc": WRANGLER, "src/room.ts": gone})
    schema2 = analyze_paths([root2], Settings(select=["sql-missing-index"])).model.schema_for(
        root2 / "src" / "room.ts"
    )
    names = {i.name for i in schema2.indexes_of("items")}
    assert "items_by_k" in names and "items_by_v" not in names


def test_a_drop_statement_is_part_of_the_catalogue_s_identity(tmp_path):
    """Two projects whose CREATE and ALTER texts are the same but one drops the renamed copy:
    the drop makes the rename a rebuild (one table), its absence replays the rename (two
    tables). A catalogue built for one must not be reused for the other (schema._BUILT is
    shared by every model in the process: the server's edits, a check of a monorepo)."""
    from durable_harden.analyzers import schema
    from tests.conftest import write_tree

    kept = REBUILD.replace("    sql.exec(`DROP TABLE items_old`);\n", "")
    assert kept != REBUILD
    for first, second in ((kept, REBUILD), (REBUILD, kept)):
        schema._BUILT.clear()
        tables = []
        for number, text in enumerate((first, second)):
            root = write_tree(
                tmp_path / f"{len(tables)}-{number}-{first is kept}",
                {"wrangler.jsonc": WRANGLER, "src/room.ts": text},
            )
            model = analyze_paths([root], Settings(select=["unused-suppression"])).model
            tables.append(set(model.schema_for(root / "src" / "room.ts").tables))
        expected = [{"items", "items_old"} if t is kept else {"items"} for t in (first, second)]
        assert tables == expected
