"""Generators of pathological DO projects (the cost blow-ups of issue 13, item 8), shared by the
budget tests and bench/bench_pathological.py."""

from __future__ import annotations

from pathlib import Path

CONFIG = """{
  "name": "big",
  "main": "src/index.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "ROOM", "class_name": "Room" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room"] }]
}
"""

HEAD = 'import { DurableObject } from "cloudflare:workers";\nexport class Room extends DurableObject {\n'


def deep_nesting(depth: int) -> str:
    """A DO method with `depth` nested blocks, a storage call at the bottom."""
    body = "    if (x) {\n" * depth
    body += "      this.ctx.storage.sql.exec(`INSERT INTO t (a) VALUES (${x})`);\n"
    body += "    }\n" * depth
    return HEAD + f"  run(x: number) {{\n{body}  }}\n}}\n"


def many_substitutions(count: int) -> str:
    """`sql.exec` with a template literal of `count` substitutions."""
    values = ", ".join(f"${{v{i}}}" for i in range(count))
    columns = ", ".join(f"c{i}" for i in range(count))
    params = ", ".join(f"v{i}: number" for i in range(count))
    return HEAD + (
        f"  run({params}) {{\n"
        f"    this.ctx.storage.sql.exec(`INSERT INTO t ({columns}) VALUES ({values})`);\n"
        "  }\n}\n"
    )


def huge_sql(size: int) -> str:
    """One SQL string literal of about `size` bytes (a long IN list)."""
    items = []
    total = 0
    i = 0
    while total < size:
        item = f"'value-{i}'"
        items.append(item)
        total += len(item) + 2
        i += 1
    sql = f"SELECT * FROM t WHERE a IN ({', '.join(items)})"
    return HEAD + f'  run() {{\n    this.ctx.storage.sql.exec("{sql}");\n  }}\n}}\n'


def huge_file(size: int) -> str:
    """A DO file of about `size` bytes: many ordinary methods."""
    method = (
        "  m{i}(x: number) {{\n"
        '    const rows = this.ctx.storage.sql.exec("SELECT * FROM t WHERE id = ?", x).toArray();\n'
        "    setTimeout(() => this.m{i}(x + 1), 1000);\n"
        "    return rows.length;\n"
        "  }}\n"
    )
    parts = [HEAD]
    total = len(HEAD)
    i = 0
    while total < size:
        text = method.format(i=i)
        parts.append(text)
        total += len(text)
        i += 1
    parts.append("}\n")
    return "".join(parts)


def write_project(root: Path, source: str) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "wrangler.jsonc").write_text(CONFIG)
    (root / "src" / "index.ts").write_text(source)
    return root
