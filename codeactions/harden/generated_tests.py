"""The tests harden generates for each hardened class: one vitest case per applied pattern, run in
workerd with `cloudflare:test` (`runInDurableObject`, `runDurableObjectAlarm`), checking the
pattern itself (the TTL cleanup deletes expired rows, a moved timer's callback runs from
`alarm()`, sockets reach the handler methods, indexes exist, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from durable_harden.analyzers.generated_names import PATTERN_MARK
from durable_harden.codeactions._style import Style

if TYPE_CHECKING:
    from durable_harden.analyzers.classes import DurableObjectClass
    from durable_harden.analyzers.model import ProjectModel
    from durable_harden.codeactions.harden.plan import AppliedFix


# -- per-class tests ----------------------------------------------------------------------------
@dataclass
class TestContext:
    """The class, binding and applied fixes a generated test file is written for."""

    cls: DurableObjectClass | None
    class_name: str
    binding: str
    model: ProjectModel
    applied: list[AppliedFix]


@dataclass
class TestCase:
    """One generated test (`it(...)`) and what it proves."""

    rule_id: str
    title: str
    body: str  # statements inside `it(...)`, two-space indented at depth 0
    checks: str  # one line for the report: what the test proves


def _ts(value: str) -> str:
    return json.dumps(value)


def _stub(name: str) -> str:
    return f"const stub = namespace.get(namespace.idFromName({_ts(name)}));"


def _table_columns(
    model: ProjectModel, path: Path, table: str
) -> list[tuple[str, str, bool, bool, bool]]:
    """(name, declared type, not null, has default, is pk) per column, from SQLite itself."""
    schema = model.schema_for(path)
    try:
        rows = schema.db.execute(f"PRAGMA table_info({json.dumps(table)})").fetchall()
    except Exception:
        return []
    return [(r[1], (r[2] or "").upper(), bool(r[3]), r[4] is not None, bool(r[5])) for r in rows]


def _sample(decl: str, name: str) -> str:
    if any(k in decl for k in ("INT", "REAL", "FLOA", "DOUB", "NUM")) or name.endswith("_at"):
        return "1"
    if "BLOB" in decl:
        return "new Uint8Array([1])"
    return _ts("durable-harden")


def ttl_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
    table = fix.finding.data.get("table")
    if not isinstance(table, str) or ctx.cls is None:
        return None
    columns = _table_columns(ctx.model, ctx.cls.file.path, table)
    expiry = next((c for c in columns if re.search(r"expir", c[0], re.I)), None)
    if expiry is None:
        return None
    pk = [c for c in columns if c[4]]
    rowid_alias = len(pk) == 1 and pk[0][1] == "INTEGER"
    names: list[str] = []
    values: list[str] = []
    for name, decl, not_null, has_default, is_pk in columns:
        if name == expiry[0]:
            names.append(name)
            values.append("Date.now() - 60_000")
        elif is_pk and rowid_alias:
            continue
        elif (not_null and not has_default) or is_pk:
            names.append(name)
            values.append(_sample(decl, name))
    marks = ", ".join("?" for _ in names)
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
    count = f"SELECT COUNT(*) AS n FROM {table} WHERE {expiry[0]} <= ?"
    args = ",\n    ".join(values)
    body = f"""{_stub(f"durable-harden-ttl-{table}")}
await runInDurableObject(stub, async (_instance, state) => {{
  state.storage.sql.exec(
    {_ts(insert)},
    {args},
  );
  await state.storage.setAlarm(Date.now() + 60_000);
}});
expect(await runDurableObjectAlarm(stub)).toBe(true);
const left = await runInDurableObject(stub, (_instance, state) =>
  state.storage.sql.exec<{{ n: number }}>(
    {_ts(count)},
    Date.now(),
  ).one().n,
);
expect(left).toBe(0);"""
    return TestCase(
        fix.rule_id,
        f"deletes expired rows of {table} when the alarm runs",
        body,
        f"an expired `{table}` row is deleted by `alarm()`",
    )


_NUMBER = re.compile(r"^\d[\d_]*$")


def _timers_left(ctx: TestContext) -> int:
    """Timer findings left in the class after the fixes (checked here, not at test run time)."""
    from durable_harden.analyzers.rules.timer_blocks_hibernation import check

    return sum(1 for f in check(ctx.model) if f.data.get("class") == ctx.class_name)


def timer_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
    data = fix.finding.data
    timer = data.get("timer") or "timer"
    callback = data.get("callback")
    arming = data.get("arming_method")
    delay = data.get("delay")
    left = _timers_left(ctx)
    remains = (
        f"; {left} timer(s) still in the class after harden (see Left for review)"
        if left
        else "; no setInterval/setTimeout left in the class (checked when generated)"
    )
    methods = ctx.cls.methods if ctx.cls is not None else {}
    if (
        isinstance(callback, str)
        and isinstance(arming, str)
        and callback in methods
        and arming in methods
        and isinstance(delay, str)
        and _NUMBER.match(delay.strip())
    ):
        body = f"""{_stub("durable-harden-timer")}
const calls: unknown[][] = [];
await runInDurableObject(stub, async (instance, state) => {{
  const object = instance as unknown as Record<string, (...args: unknown[]) => unknown>;
  // alarm() runs on this instance: record each call of the work the {timer} used to do
  const work = object.{callback};
  object.{callback} = (...args: unknown[]) => {{
    calls.push(args);
    return work.apply(instance, args);
  }};
  // {arming}() started the {timer}; now it must arm an alarm instead
  await object.{arming}();
  for (let i = 0; i < 100 && (await state.storage.getAlarm()) === null; i++) {{
    await new Promise((resolve) => setTimeout(resolve, 10));
  }}
  expect(await state.storage.getAlarm()).not.toBeNull();
}});
// the alarm's work is due once the former delay ({delay.strip()} ms) has passed
vi.useFakeTimers({{ toFake: ["Date"] }});
try {{
  vi.setSystemTime(Date.now() + {delay.strip()} + 1_000);
  expect(await runDurableObjectAlarm(stub)).toBe(true);
}} finally {{
  vi.useRealTimers();
}}
expect(calls.length).toBeGreaterThan(0);"""
        return TestCase(
            fix.rule_id,
            f"runs {callback}() from alarm() instead of a {timer}",
            body,
            f"`{arming}()` arms an alarm and `alarm()` runs `{callback}()` once the former "
            f"`{timer}` delay has passed{remains}",
        )
    body = f"""{_stub("durable-harden-timer")}
await runInDurableObject(stub, async (_instance, state) => {{
  await state.storage.setAlarm(Date.now() + 60_000);
}});
// the work the {timer} used to do now runs from alarm(), which must complete
expect(await runDurableObjectAlarm(stub)).toBe(true);"""
    return TestCase(
        fix.rule_id,
        f"runs the former {timer} work from alarm()",
        body,
        f"the work of the former `{timer}` runs from `alarm()` without throwing (the callback or "
        f"the method starting it could not be named, so its effect is not checked){remains}",
    )


def websocket_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
    url = fix.finding.data.get("upgrade_url")
    if isinstance(url, str) and url:
        body = f"""{_stub("durable-harden-websocket")}
const open = () => runInDurableObject(stub, (_instance, state) => state.getWebSockets().length);
const before = await open();
const response = await stub.fetch({_ts(url)}, {{ headers: {{ Upgrade: "websocket" }} }});
expect(response.status).toBe(101);
const client = response.webSocket;
expect(client).toBeTruthy();
client!.accept();
// accepted with ctx.acceptWebSocket(): the runtime lists it (server.accept() would not)
expect(await open()).toBe(before + 1);
const events: string[] = [];
await runInDurableObject(stub, (instance) => {{
  // the runtime looks the handlers up on the instance for each event
  const handlers = instance as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ["webSocketMessage", "webSocketClose"]) {{
    const handler = handlers[name];
    handlers[name] = (...args: unknown[]) => {{
      events.push(name);
      return handler.apply(instance, args);
    }};
  }}
}});
client!.send("{{}}");
client!.close(1000, "durable-harden");
const both = () => events.includes("webSocketMessage") && events.includes("webSocketClose");
for (let i = 0; i < 200 && !both(); i++) {{
  await new Promise((resolve) => setTimeout(resolve, 10));
}}
// each handler once; each event is its own delivery, and under load the close was seen first
expect([...events].sort()).toEqual(["webSocketClose", "webSocketMessage"]);"""
        checks = (
            f"an upgrade request ({url}) leaves a socket accepted through `ctx.acceptWebSocket` "
            "whose message and close (1000) reach `webSocketMessage`/`webSocketClose`"
        )
    else:
        body = f"""{_stub("durable-harden-websocket")}
await runInDurableObject(stub, (instance) => {{
  // sockets accepted with ctx.acceptWebSocket() deliver their events to these handlers
  const handlers = instance as unknown as Record<string, unknown>;
  expect(typeof handlers.webSocketMessage).toBe("function");
  expect(typeof handlers.webSocketClose).toBe("function");
}});"""
        checks = (
            "the class exposes the hibernation handlers `webSocketMessage`/`webSocketClose` "
            "(the request reaching the upgrade could not be derived from `fetch()`, so no socket "
            "is opened)"
        )
    return TestCase(fix.rule_id, "accepts sockets through the hibernation API", body, checks)


def index_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
    # one test for every index the class received
    fixes = [a for a in ctx.applied if a.rule_id == fix.rule_id]
    pairs = sorted({(str(n), str(t)) for a in fixes for n, t in a.fix.facts.get("indexes", ())})
    if not pairs:
        return None
    names = [n for n, _ in pairs]
    listed = ",\n  ".join(f"[{_ts(n)}, {_ts(t)}]" for n, t in pairs)
    body = f"""{_stub("durable-harden-index")}
const rows = await runInDurableObject(stub, (_instance, state) =>
  state.storage.sql
    .exec<{{ type: string; name: string }}>("SELECT type, name FROM sqlite_master")
    .toArray(),
);
const tables = new Set(rows.filter((row) => row.type === "table").map((row) => row.name));
const indexes = new Set(rows.filter((row) => row.type === "index").map((row) => row.name));
// an index exists wherever its table does (some tables are created on first use)
for (const [index, table] of [
  {listed},
]) {{
  if (tables.has(table)) {{
    expect(indexes.has(index), index).toBe(true);
  }}
}}"""
    quoted = ", ".join(f"`{n}`" for n in names)
    return TestCase(
        fix.rule_id,
        f"creates the index{'es' if len(names) > 1 else ''} {', '.join(names)}",
        body,
        f"{quoted} exist{'s' if len(names) == 1 else ''} wherever {'their' if len(names) > 1 else 'its'} table does",
    )


def name_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
    body = """const name = "durable-harden-name";
const stub = namespace.get(namespace.idFromName(name));
const seen = await runInDurableObject(stub, (_instance, state) => state.id.name);
expect(seen).toBe(name);"""
    return TestCase(
        fix.rule_id,
        "knows its own name from ctx.id.name",
        body,
        "`ctx.id.name` holds the name the object was reached with",
    )


def reachable_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
    body = f"""{_stub("durable-harden-binding")}
const id = await runInDurableObject(stub, (_instance, state) => state.id.toString());
expect(id).toBe(stub.id.toString());"""
    return TestCase(
        fix.rule_id,
        f"is reachable through the {ctx.binding} binding",
        body,
        f"the class is exported, migrated and reachable through `{ctx.binding}`",
    )


def _indent(code: str, depth: int) -> str:
    pad = "  " * depth
    return "\n".join(pad + line if line else line for line in code.splitlines())


def render_tests(class_name: str, binding: str, cases: list[TestCase]) -> str:
    blocks = "\n\n".join(_case_block(case) for case in cases)
    helpers = ", ".join(
        name
        for name in ("runDurableObjectAlarm", "runInDurableObject")
        if any(name in case.body for case in cases)
    )
    uses_vi = any("vi." in case.body for case in cases)
    vitest = ", ".join(["describe", "expect", "it", *(["vi"] if uses_vi else [])])
    return f"""// Generated by `durable-harden harden` for {class_name}: each test checks one production
// pattern in Cloudflare's runtime (workerd). Run with `npx vitest run`; edit freely.
import {{ env }} from "cloudflare:workers";
import {{ {helpers} }} from "cloudflare:test";
import {{ {vitest} }} from "vitest";

const namespace = (env as unknown as Record<string, DurableObjectNamespace>)[{_ts(binding)}];

describe({_ts(f"{class_name} production patterns")}, () => {{
{blocks}
}});
"""


def _case_block(case: TestCase) -> str:
    return f"""  {PATTERN_MARK}{case.rule_id}
  it({_ts(case.title)}, async () => {{
{_indent(case.body, 2)}
  }});"""


def _add_cases(existing: str, cases: list[TestCase], style: Style) -> str:
    """Append the cases whose pattern the file does not test yet, before the last `});`."""
    fresh = [c for c in cases if f"{PATTERN_MARK}{c.rule_id}" not in existing]
    if not fresh:
        return existing
    cut = existing.rstrip().rfind("});")
    if cut < 0:
        return existing
    blocks = style.apply("\n\n".join(_case_block(c) for c in fresh))
    head = existing[:cut].rstrip("\n")
    return f"{head}\n\n{blocks}\n{existing[cut:]}"
