"""Generate a realistic Durable Object monorepo for the benchmarks (not a test fixture).

    python bench/generate.py OUT [--files N] [--projects P] [--seed S]

Writes P Worker projects (default: one per 50 files, at least 2) under OUT/packages/, each with
a `wrangler.jsonc` binding its classes, a `package.json`, and N files in total spread over the
projects. Each project has: an `index.ts` Worker routing to its DOs; DO classes of four shapes
(SQL-backed with a schema, inserts, reads and a cleanup alarm; KV-storage counters; WebSocket
rooms with hibernation handlers and attachments; schedulers with alarms and a timer); helper
modules (SQL constants, validation, formatting) imported by the classes; and some plain files.
Some classes carry the problems the rules look for (an unpruned table, a query without an
index, a setInterval, a non-hibernatable socket), so the rules do their full work.

Deterministic for a seed, so two runs (and the ratios they print) compare the same code.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

HEADER = 'import { DurableObject } from "cloudflare:workers";\n'


def sql_class(name: str, n: int, rng: random.Random, problem: bool) -> str:
    table = f"events_{n}"
    prune = (
        ""
        if problem
        else f"""
  async alarm(): Promise<void> {{
    const cutoff = Date.now() - RETENTION_MS_{n};
    this.ctx.storage.sql.exec("DELETE FROM {table} WHERE created_at < ?", cutoff);
    await this.ctx.storage.setAlarm(Date.now() + 60 * 60 * 1000);
  }}
"""
    )
    index = "" if problem else f"CREATE INDEX IF NOT EXISTS {table}_by_kind ON {table}(kind);"
    methods = "\n".join(
        f"""
  count{i}(kind: string): number {{
    const row = this.ctx.storage.sql
      .exec<{{ n: number }}>("SELECT COUNT(*) AS n FROM {table} WHERE kind = ?", kind)
      .one();
    return row.n + {i};
  }}"""
        for i in range(rng.randint(2, 6))
    )
    return f"""{HEADER}import type {{ Env }} from "./env";
import {{ validateKind, formatRow }} from "./helpers-{n % 3}";

const RETENTION_MS_{n} = {rng.randint(1, 30)} * 24 * 60 * 60 * 1000;
const SCHEMA_{n} = `
  CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  {index}
`;

export class {name} extends DurableObject<Env> {{
  constructor(ctx: DurableObjectState, env: Env) {{
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {{
      this.ctx.storage.sql.exec(SCHEMA_{n});
    }});
  }}

  async fetch(request: Request): Promise<Response> {{
    const url = new URL(request.url);
    const kind = validateKind(url.searchParams.get("kind") ?? "default");
    if (request.method === "POST") {{
      const payload = await request.text();
      this.ctx.storage.sql.exec(
        "INSERT INTO {table} (kind, payload, created_at) VALUES (?, ?, ?)",
        kind,
        payload,
        Date.now(),
      );
      if ((await this.ctx.storage.getAlarm()) === null) {{
        await this.ctx.storage.setAlarm(Date.now() + 60 * 1000);
      }}
      return new Response("stored", {{ status: 201 }});
    }}
    const rows = this.ctx.storage.sql
      .exec("SELECT id, payload, created_at FROM {table} WHERE kind = ? ORDER BY id DESC LIMIT 50", kind)
      .toArray();
    return Response.json(rows.map(formatRow));
  }}
{prune}{methods}
}}
"""


def kv_class(name: str, n: int, rng: random.Random, problem: bool) -> str:
    extra = (
        """
  async all(): Promise<number> {
    const entries = await this.ctx.storage.list();
    return entries.size;
  }
"""
        if problem
        else ""
    )
    return f"""{HEADER}import type {{ Env }} from "./env";

export class {name} extends DurableObject<Env> {{
  async increment(key: string, by = 1): Promise<number> {{
    const current = (await this.ctx.storage.get<number>(key)) ?? 0;
    const next = current + by;
    await this.ctx.storage.put(key, next);
    return next;
  }}

  async read(key: string): Promise<number> {{
    return (await this.ctx.storage.get<number>(key)) ?? {rng.randint(0, 9)};
  }}
{extra}}}
"""


def ws_class(name: str, n: int, rng: random.Random, problem: bool) -> str:
    accept = "server.accept();" if problem else "this.ctx.acceptWebSocket(server);"
    return f"""{HEADER}import type {{ Env }} from "./env";

interface Attachment{n} {{
  user: string;
  joinedAt: number;
}}

export class {name} extends DurableObject<Env> {{
  async fetch(request: Request): Promise<Response> {{
    if (request.headers.get("Upgrade") !== "websocket") {{
      return new Response("expected websocket", {{ status: 426 }});
    }}
    const user = new URL(request.url).searchParams.get("user") ?? "anonymous";
    const pair = new WebSocketPair();
    const [client, server] = Object.values(pair);
    {accept}
    server.serializeAttachment({{ user, joinedAt: Date.now() }} satisfies Attachment{n});
    return new Response(null, {{ status: 101, webSocket: client }});
  }}

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {{
    const from = ws.deserializeAttachment() as Attachment{n};
    for (const peer of this.ctx.getWebSockets()) {{
      if (peer !== ws) peer.send(JSON.stringify({{ from: from.user, message: String(message) }}));
    }}
  }}

  async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {{
    ws.close(code, reason);
  }}
}}
"""


def scheduler_class(name: str, n: int, rng: random.Random, problem: bool) -> str:
    timer = (
        """
  private ticker: ReturnType<typeof setInterval> | undefined;

  start(): void {
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  tick(): void {
    this.ctx.storage.sql.exec("UPDATE jobs SET attempts = attempts + 1");
  }
"""
        if problem
        else ""
    )
    return f"""{HEADER}import type {{ Env }} from "./env";

export class {name} extends DurableObject<Env> {{
  constructor(ctx: DurableObjectState, env: Env) {{
    super(ctx, env);
    this.ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, due INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)",
    );
    this.ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS jobs_by_due ON jobs(due)");
  }}

  async schedule(id: string, due: number): Promise<void> {{
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO jobs (id, due) VALUES (?, ?)", id, due);
    const next = this.ctx.storage.sql
      .exec<{{ due: number }}>("SELECT due FROM jobs ORDER BY due LIMIT 1")
      .one().due;
    await this.ctx.storage.setAlarm(next);
  }}

  async alarm(): Promise<void> {{
    const now = Date.now();
    this.ctx.storage.sql.exec("DELETE FROM jobs WHERE due <= ?", now);
    const rest = this.ctx.storage.sql
      .exec<{{ due: number }}>("SELECT due FROM jobs ORDER BY due LIMIT 1")
      .toArray();
    if (rest.length > 0) await this.ctx.storage.setAlarm(rest[0].due);
  }}
{timer}}}
"""


SHAPES = [sql_class, kv_class, ws_class, scheduler_class]


def helper_module(n: int, rng: random.Random) -> str:
    kinds = ", ".join(f'"kind{k}"' for k in range(rng.randint(3, 8)))
    return f"""const KINDS_{n} = new Set([{kinds}]);

export function validateKind(kind: string): string {{
  return KINDS_{n}.has(kind) ? kind : "default";
}}

export function formatRow(row: Record<string, unknown>): Record<string, unknown> {{
  return {{ ...row, formatted: true, at: new Date(Number(row.created_at ?? 0)).toISOString() }};
}}

export function clamp(value: number, low: number, high: number): number {{
  return Math.min(high, Math.max(low, value));
}}
"""


def plain_module(n: int, rng: random.Random) -> str:
    body = "\n".join(
        f"""export function util{n}_{i}(values: number[]): number {{
  let total = 0;
  for (const value of values) {{
    if (value > {i}) total += value * {rng.randint(1, 9)};
    else total -= value;
  }}
  return total;
}}
"""
        for i in range(rng.randint(3, 12))
    )
    return body


def generate(out: Path, files: int, projects: int | None = None, seed: int = 1) -> list[Path]:
    """Write the monorepo; returns the project folders."""
    rng = random.Random(seed)
    projects = projects or max(2, files // 50)
    per_project = max(6, files // projects)
    folders: list[Path] = []
    written = 0
    for p in range(projects):
        folder = out / "packages" / f"worker-{p}"
        src = folder / "src"
        src.mkdir(parents=True, exist_ok=True)
        folders.append(folder)
        (src / "env.ts").write_text("export interface Env {\n  [binding: string]: unknown;\n}\n")
        for h in range(3):
            (src / f"helpers-{h}.ts").write_text(helper_module(h, rng))
        budget = per_project if p < projects - 1 else max(6, files - written)
        classes: list[tuple[str, str]] = []
        count = 4  # env + helpers
        n = 0
        while count < budget - 1:
            if n % 3 == 2:
                (src / f"util-{n}.ts").write_text(plain_module(n, rng))
            else:
                shape = SHAPES[(n // 3 * 2 + n % 3) % len(SHAPES)]
                name = f"{shape.__name__.split('_')[0].title()}Object{p}x{n}"
                module = f"{shape.__name__.replace('_class', '')}-{n}"
                problem = rng.random() < 0.25
                (src / f"{module}.ts").write_text(shape(name, n, rng, problem))
                classes.append((name, module))
            n += 1
            count += 1
        exports = "".join(f'export {{ {c} }} from "./{m}";\n' for c, m in classes)
        routes = "".join(
            f'    if (path === "/{m}") return env.{c.upper()}.get(env.{c.upper()}.idFromName(path))'
            f".fetch(request);\n"
            for c, m in classes
        )
        (src / "index.ts").write_text(
            f"{exports}\nexport default {{\n  async fetch(request: Request, env: any) {{\n"
            f"    const path = new URL(request.url).pathname;\n{routes}"
            '    return new Response("not found", { status: 404 });\n  },\n};\n'
        )
        written += count + 1
        config = {
            "name": f"worker-{p}",
            "main": "src/index.ts",
            "compatibility_date": "2026-03-01",
            "durable_objects": {
                "bindings": [{"name": c.upper(), "class_name": c} for c, _ in classes]
            },
            "migrations": [{"tag": "v1", "new_sqlite_classes": [c for c, _ in classes]}],
        }
        (folder / "wrangler.jsonc").write_text(json.dumps(config, indent=2) + "\n")
        (folder / "package.json").write_text(
            json.dumps({"name": f"worker-{p}", "private": True}, indent=2) + "\n"
        )
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--projects", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folders = generate(args.out, args.files, args.projects, args.seed)
    total = sum(1 for f in folders for _ in (f / "src").glob("*.ts"))
    print(f"generate files={total} projects={len(folders)} out={args.out}")


if __name__ == "__main__":
    main()
