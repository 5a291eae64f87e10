// Facts of the platform that rules rely on, checked in workerd itself (both builds run this
// file; it only uses a fresh SessionStore's SQLite database, never the example's tables).
// verifies-fact: sqlite foreign keys enforced (unbounded-table-growth / sql-unbounded-read count
// a child table `ON DELETE CASCADE` from a pruned parent as pruned)
import { env, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";

it("SQLite-backed Durable Objects enforce foreign keys: ON DELETE CASCADE deletes child rows", async () => {
  const stub = env.SESSIONS.getByName("platform-facts-foreign-keys");
  const left = await runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    sql.exec("CREATE TABLE fact_parent (id INTEGER PRIMARY KEY)");
    sql.exec(
      "CREATE TABLE fact_child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL " +
        "REFERENCES fact_parent(id) ON DELETE CASCADE)",
    );
    sql.exec("INSERT INTO fact_parent (id) VALUES (1), (2)");
    sql.exec("INSERT INTO fact_child (parent_id) VALUES (1), (1), (2)");
    sql.exec("DELETE FROM fact_parent WHERE id = 1");
    const enforced = sql.exec<{ foreign_keys: number }>("PRAGMA foreign_keys").one().foreign_keys;
    const children = sql.exec<{ n: number }>("SELECT count(*) AS n FROM fact_child").one().n;
    return { enforced, children };
  });
  expect(left).toEqual({ enforced: 1, children: 1 });
});
