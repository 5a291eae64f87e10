"""What "Harden all Durable Objects" produces besides the fixes themselves.

Each only for patterns that were actually applied:
- `test/durable-harden/<class>.test.ts` per hardened class, in vitest with `cloudflare:test`
  (`runInDurableObject`, `runDurableObjectAlarm`), checking the pattern in workerd;
- a minimal vitest set-up when the project has none: `vitest.config.ts` with
  `cloudflareTest({ wrangler: { configPath } })` from `@cloudflare/vitest-pool-workers`, and the
  devDependencies (+ a `test` script) added to `package.json`, edited in place so the file's own
  formatting stays;
- a "Production patterns" section in the project's README (created if absent);
- the report (`render_report`): per class the patterns applied with priority and reason, files
  created and modified, lines added/changed, what was left for review, how to verify.

Pure: reads through the `read` callable it is given (the plan's view of the workspace).
Generated text depends only on the input, never on time, so runs are byte-identical.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import tree_sitter_json
from tree_sitter import Language, Node, Parser

from durable_harden.analyzers import safejson
from durable_harden.analyzers.generated_names import PATTERN_MARK, README_END, README_START
from durable_harden.codeactions._style import Style

if TYPE_CHECKING:
    from durable_harden.analyzers.classes import DurableObjectClass
    from durable_harden.analyzers.model import ProjectModel
    from durable_harden.analyzers.wrangler import WranglerConfig
    from durable_harden.codeactions.plan import AppliedFix, HardenPlan

Reader = Callable[[Path], "bytes | None"]

TEST_DIR = Path("test") / "durable-harden"

# The set known to work together on Node 20 (see docs/harden.md); exact pins like the examples.
VITEST_DEV_DEPENDENCIES = {
    "@cloudflare/vitest-pool-workers": "0.15.1",
    "vitest": "4.1.12",
}
VITEST_CONFIG_NAMES = (
    *tuple(
        f"{stem}.config.{ext}"
        for stem in ("vitest", "vite")
        for ext in ("ts", "mts", "cts", "js", "mjs", "cjs")
    ),
    "vitest.workspace.ts",
    "vitest.workspace.js",
)

PATTERN_LABELS = {
    "unbounded-table-growth": "TTL cleanup by alarm",
    "timer-blocks-hibernation": "timer moved to an alarm",
    "websocket-not-hibernatable": "WebSocket Hibernation API",
    "websocket-state-in-memory": "per-socket state in attachments",
    "sql-missing-index": "index for a scanning query",
    "obsolete-name-workaround": "ctx.id.name instead of a name workaround",
    "id-name-undefined": "fallback for ctx.id.name",
    "class-not-exported": "class exported from the main module",
    "binding-missing-migration": "migration for the bound class",
    "rollout-unsafe": "gradual rollout script",
}


def pattern_label(rule_id: str, title: str = "") -> str:
    return PATTERN_LABELS.get(rule_id, title or rule_id)


def kebab(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    return re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-") or "durable-object"


def rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# -- per-class tests ----------------------------------------------------------------------------
@dataclass
class TestContext:
    cls: DurableObjectClass | None
    class_name: str
    binding: str
    model: ProjectModel
    applied: list[AppliedFix]


@dataclass
class TestCase:
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


def _ttl_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
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


def _timer_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
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


def _websocket_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
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
for (let i = 0; i < 200 && !events.includes("webSocketClose"); i++) {{
  await new Promise((resolve) => setTimeout(resolve, 10));
}}
expect(events).toEqual(["webSocketMessage", "webSocketClose"]);"""
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


_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?[\"`]?(\w+)[\"`]?\s+ON\s+[\"`]?(\w+)",
    re.I,
)


def _index_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
    # one test for every index the class received
    fixes = [a for a in ctx.applied if a.rule_id == fix.rule_id]
    texts = [e.new_text for a in fixes for e in a.fix.edits]
    texts += [c.content for a in fixes for c in a.fix.creates]
    pairs = sorted({(m.group(1), m.group(2)) for t in texts for m in _INDEX.finditer(t)})
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


def _name_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
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


def _reachable_case(ctx: TestContext, fix: AppliedFix) -> TestCase | None:
    body = f"""{_stub("durable-harden-binding")}
const id = await runInDurableObject(stub, (_instance, state) => state.id.toString());
expect(id).toBe(stub.id.toString());"""
    return TestCase(
        fix.rule_id,
        f"is reachable through the {ctx.binding} binding",
        body,
        f"the class is exported, migrated and reachable through `{ctx.binding}`",
    )


CASES: dict[str, Callable[[TestContext, AppliedFix], TestCase | None]] = {
    "unbounded-table-growth": _ttl_case,
    "timer-blocks-hibernation": _timer_case,
    "websocket-not-hibernatable": _websocket_case,
    "sql-missing-index": _index_case,
    "obsolete-name-workaround": _name_case,
    "class-not-exported": _reachable_case,
    "binding-missing-migration": _reachable_case,
}


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


# -- JSON edited in place -----------------------------------------------------------------------
@cache
def _json_parser() -> Parser:
    return Parser(Language(tree_sitter_json.language()))


def _pairs(data: bytes, obj: Node) -> list[tuple[str, Node]]:
    out: list[tuple[str, Node]] = []
    for pair in obj.named_children:
        if pair.type != "pair":
            continue
        key = pair.child_by_field_name("key")
        if key is None:
            continue
        raw = data[key.start_byte : key.end_byte].decode("utf-8", "replace")
        try:
            out.append((safejson.loads(raw), pair))
        except ValueError:
            continue
    return out


def _line_indent(data: bytes, offset: int) -> str:
    start = data.rfind(b"\n", 0, offset) + 1
    lead = re.match(rb"[ \t]*", data[start:offset])
    return lead.group(0).decode() if lead else ""


def json_add_entries(data: bytes, key: str, entries: dict[str, str]) -> bytes:
    """Add `entries` to the top-level object `key` of a JSON file, keeping its formatting:
    each new entry goes at its alphabetical place, with the indentation of its neighbours.
    Entries already present are left alone. Returns the bytes unchanged when nothing is new."""
    tree = _json_parser().parse(data)
    top = next((n for n in tree.root_node.named_children if n.type == "object"), None)
    if top is None or tree.root_node.has_error:
        raise ValueError("not a JSON object")
    pairs = dict(_pairs(data, top))
    unit = _indent_unit(data, top)
    if key not in pairs:
        members = _pairs(data, top)
        inner = unit * 2
        body = ",\n".join(
            f"{inner}{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(entries.items())
        )
        text = f"{json.dumps(key)}: {{\n{body}\n{unit}}}"
        if members:
            last = members[-1][1]
            insert = f",\n{unit}{text}"
            return data[: last.end_byte] + insert.encode() + data[last.end_byte :]
        close = top.end_byte - 1
        return data[: top.start_byte] + f"{{\n{unit}{text}\n}}".encode() + data[close + 1 :]
    value = pairs[key].child_by_field_name("value")
    if value is None or value.type != "object":
        raise ValueError(f"{key} is not an object")
    existing = _pairs(data, value)
    names = {k for k, _ in existing}
    new = {k: v for k, v in sorted(entries.items()) if k not in names}
    if not new:
        return data
    if not existing:
        outer = _line_indent(data, pairs[key].start_byte)
        inner = outer + unit
        body = ",\n".join(f"{inner}{json.dumps(k)}: {json.dumps(v)}" for k, v in new.items())
        replacement = f"{{\n{body}\n{outer}}}"
        return data[: value.start_byte] + replacement.encode() + data[value.end_byte :]
    indent = _line_indent(data, existing[0][1].start_byte)
    inserts: list[tuple[int, str]] = []
    for name, version in new.items():
        line = f"{json.dumps(name)}: {json.dumps(version)}"
        after = next((p for k, p in existing if k > name), None)
        if after is not None:
            inserts.append((after.start_byte, f"{line},\n{indent}"))
        else:
            inserts.append((existing[-1][1].end_byte, f",\n{indent}{line}"))
    out = data
    for offset, text in sorted(inserts, key=lambda item: item[0], reverse=True):
        out = out[:offset] + text.encode() + out[offset:]
    return out


def _indent_unit(data: bytes, top: Node) -> str:
    members = _pairs(data, top)
    if members:
        lead = _line_indent(data, members[0][1].start_byte)
        if lead:
            return lead
    return "  "


# -- what gets produced -------------------------------------------------------------------------
@dataclass
class ProjectOutputs:
    root: Path
    config: WranglerConfig | None
    classes: dict[str, list[AppliedFix]] = field(default_factory=dict)


def _project_of(
    plan: HardenPlan, model: ProjectModel, applied: AppliedFix
) -> tuple[Path, WranglerConfig | None, DurableObjectClass | None]:
    cls = None
    if applied.class_name:
        matches = model.classes_named(applied.class_name)
        cls = matches[0] if matches else None
    if cls is not None:
        config = model.config_for_class(cls)
    else:
        named = applied.finding.data.get("config")
        config = next((c for c in model.configs if str(c.path) == named), None)
        config = config or model.config_for_path(applied.finding.span.path)
    root = config.root if config is not None else plan.root
    return root, config, cls


# The patterns whose fix is only shown to work by running it in workerd (rows deleted by the alarm,
# a timer's work done by alarm(), sockets that survive hibernation). Scaffolding (tests, vitest
# set-up, devDependencies, README section) is written only for a project with one of them (or
# with generated tests already); then the tests cover every applied pattern that has a test case
# (an index's query plan too). `harden --no-tests` writes none.
NEEDS_RUNTIME_TEST = frozenset(
    {"unbounded-table-growth", "timer-blocks-hibernation", "websocket-not-hibernatable"}
)


def add_outputs(plan: HardenPlan, model: ProjectModel, read: Reader) -> None:
    """Add the generated tests, vitest set-up and README section to the plan's contents."""
    projects: dict[Path, ProjectOutputs] = {}
    for applied in plan.applied:
        root, config, _ = _project_of(plan, model, applied)
        project = projects.setdefault(root, ProjectOutputs(root, config))
        project.classes.setdefault(applied.class_name or "", []).append(applied)

    def put(path: Path, data: bytes, why: str) -> None:
        before = read(path)
        if before == data:
            return
        if path not in plan.original:
            plan.original[path] = before
        plan.contents[path] = data
        plan.generated[path] = why

    for root in sorted(projects, key=str):
        project = projects[root]
        rules = {a.rule_id for fixes in project.classes.values() for a in fixes}
        # a project that already has generated tests keeps getting them for new patterns
        if not rules & NEEDS_RUNTIME_TEST and not (root / TEST_DIR).is_dir():
            plan.notes.append(
                f"{rel(plan.root, root) or '.'}: no tests, vitest set-up or README section "
                "generated: the fixes applied need no runtime test"
            )
            continue
        wrote_tests = _tests_for(plan, model, project, read, put)
        if wrote_tests:
            _vitest_setup(plan, project, read, put)
        _readme(plan, project, read, put)


def _tests_for(
    plan: HardenPlan,
    model: ProjectModel,
    project: ProjectOutputs,
    read: Reader,
    put: Callable[[Path, bytes, str], None],
) -> bool:
    wrote = False
    for class_name in sorted(n for n in project.classes if n):
        applied = project.classes[class_name]
        matches = model.classes_named(class_name)
        cls = matches[0] if matches else None
        config = project.config
        binding = next(
            (b.name for b in (config.bindings if config else []) if b.class_name == class_name),
            None,
        )
        if binding is None:
            plan.notes.append(f"{class_name}: no test generated (no Durable Object binding found)")
            continue
        ctx = TestContext(cls, class_name, binding, model, applied)
        cases: list[TestCase] = []
        seen: set[str] = set()
        for fix in sorted(applied, key=lambda a: (a.tier, a.rule_id)):
            make = CASES.get(fix.rule_id)
            if make is None or fix.rule_id in seen:
                continue
            case = make(ctx, fix)
            if case is None:
                plan.notes.append(
                    f"{class_name}: no test generated for {pattern_label(fix.rule_id)}"
                    " (not enough is known about it to check it)"
                )
                continue
            seen.add(fix.rule_id)
            cases.append(case)
        if not cases:
            continue
        style = Style.of(cls.file.data if cls is not None else None)
        path = project.root / TEST_DIR / f"{kebab(class_name)}.test.ts"
        existing = read(path)
        if existing is None:
            text = style.apply(render_tests(class_name, binding, cases))
        else:
            old = existing.decode("utf-8", "replace")
            text = _add_cases(old, cases, style)
        put(path, text.encode("utf-8"), f"tests for {class_name}")
        for case in cases:
            plan.notes.append(f"{class_name}: test “{case.title}” checks {case.checks}")
        wrote = True
    return wrote


def _vitest_setup(
    plan: HardenPlan,
    project: ProjectOutputs,
    read: Reader,
    put: Callable[[Path, bytes, str], None],
) -> None:
    root = project.root
    if any(read(root / name) is not None for name in VITEST_CONFIG_NAMES):
        return
    config_name = project.config.path.name if project.config is not None else "wrangler.jsonc"
    config = f"""// Generated by `durable-harden harden`: runs the tests inside workerd, Cloudflare's runtime.
import {{ cloudflareTest }} from "@cloudflare/vitest-pool-workers";
import {{ defineConfig }} from "vitest/config";

export default defineConfig({{
  plugins: [cloudflareTest({{ wrangler: {{ configPath: "./{config_name}" }} }})],
}});
"""
    put(root / "vitest.config.ts", config.encode(), "vitest set-up (none was present)")
    plan.notes.append(
        f"{rel(plan.root, root / 'vitest.config.ts')}: minimal vitest set-up added "
        "(the project had none)"
    )
    package = root / "package.json"
    data = read(package)
    if data is None:
        body = {
            "private": True,
            "type": "module",
            "scripts": {"test": "vitest run"},
            "devDependencies": VITEST_DEV_DEPENDENCIES,
        }
        put(package, (json.dumps(body, indent=2) + "\n").encode(), "package.json for vitest")
        plan.notes.append(f"{rel(plan.root, package)}: created with the vitest devDependencies")
        return
    try:
        updated = json_add_entries(data, "devDependencies", VITEST_DEV_DEPENDENCIES)
        scripts = safejson.loads(updated).get("scripts")
        if not isinstance(scripts, dict) or "test" not in scripts:
            updated = json_add_entries(updated, "scripts", {"test": "vitest run"})
    except ValueError as exc:
        plan.notes.append(f"{rel(plan.root, package)}: not edited ({exc}); add vitest by hand")
        return
    if updated != data:
        put(package, updated, "vitest devDependencies")
        added = ", ".join(f"{k}@{v}" for k, v in VITEST_DEV_DEPENDENCIES.items())
        plan.notes.append(f"{rel(plan.root, package)}: devDependencies {added} added")


_CONSTANT = re.compile(r"\bconst\s+([A-Z][A-Z0-9_]*(?:TTL|RETENTION|EXPIR)[A-Z0-9_]*)\s*=")


def _constants(applied: AppliedFix) -> list[str]:
    texts = [e.new_text for e in applied.fix.edits] + [c.content for c in applied.fix.creates]
    return sorted({m.group(1) for t in texts for m in _CONSTANT.finditer(t)})


def _readme_lines(plan: HardenPlan, project: ProjectOutputs) -> list[str]:
    lines: list[str] = []
    for class_name in sorted(project.classes, key=lambda n: (n == "", n)):
        heading = f"### {class_name}" if class_name else "### Project configuration"
        lines.append(heading)
        lines.append("")
        for applied in sorted(project.classes[class_name], key=_applied_order):
            where = rel(project.root, applied.finding.span.path)
            label = pattern_label(applied.rule_id, applied.fix.title)
            line = f"- **{label}** (`{applied.rule_id}`, {applied.priority}) in `{where}`: "
            line += applied.fix.title.rstrip(".") + "."
            constants = _constants(applied)
            if constants:
                line += " Configure: " + ", ".join(f"`{c}`" for c in constants) + "."
            if applied.fix.review:
                line += " Review: " + " ".join(applied.fix.review.split())
            lines.append(line)
        lines.append("")
    return lines


def _applied_order(a: AppliedFix) -> tuple[int, str, int, str]:
    return (a.tier, str(a.finding.span.path), a.finding.span.start, a.rule_id)


def _readme(
    plan: HardenPlan,
    project: ProjectOutputs,
    read: Reader,
    put: Callable[[Path, bytes, str], None],
) -> None:
    path = next(
        (
            project.root / n
            for n in ("README.md", "readme.md", "Readme.md")
            if read(project.root / n)
        ),
        project.root / "README.md",
    )
    data = read(path)
    entries = _readme_lines(plan, project)
    intro = [
        README_START,
        "## Production patterns",
        "",
        "Applied by `durable-harden harden`; each entry says what to configure and what to review.",
        "Verify with `npx tsc --noEmit` and `npx vitest run` (tests in `test/durable-harden/`).",
        "",
    ]
    if data is None:
        name = project.config.name if project.config is not None and project.config.name else ""
        title = f"# {name or project.root.name}\n\n"
        text = title + "\n".join([*intro, *entries, README_END]) + "\n"
        put(path, text.encode(), "README with a Production patterns section")
        return
    text = data.decode("utf-8", "replace")
    if README_START in text and README_END in text:
        start = text.index(README_START)
        end = text.index(README_END)
        section = text[start:end]
        fresh = [line for line in entries if line.startswith("- ") and line not in section]
        if not fresh:
            return
        merged = section.rstrip("\n") + "\n" + _merge_entries(section, entries) + "\n"
        text = text[:start] + merged + text[end:]
    else:
        sep = "" if text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        text = text + sep + "\n".join([*intro, *entries, README_END]) + "\n"
    put(path, text.encode(), "README: Production patterns section")


def _merge_entries(section: str, entries: list[str]) -> str:
    out: list[str] = []
    heading = ""
    for line in entries:
        if line.startswith("### "):
            heading = line
            continue
        if line.startswith("- ") and line not in section:
            if heading and heading not in section and heading not in out:
                out += ["", heading, ""]
            out.append(line)
    return "\n".join(out)


# -- the report ---------------------------------------------------------------------------------
def render_report(plan: HardenPlan, *, written: bool) -> str:
    """The harden report (markdown): printed by the CLI, saved with --report, shown by the editor."""
    root = plan.root
    out: list[str] = ["# durable-harden report", ""]
    state = "applied" if written else "planned (nothing written)"
    mode = "safe and unsafe fixes" if plan.unsafe else "safe fixes only"
    out.append(
        f"Project `{root.name}`: {len(plan.applied)} fix(es) {state} ({mode}), "
        f"{len(plan.left_for_review())} finding(s) left, {plan.rounds} round(s)."
    )
    if not plan.converged:
        out.append("")
        out.append(
            "**Warning:** the fixes did not reach a fixed point; run harden again and review."
        )
    out.append("")
    by_class: dict[str, list[AppliedFix]] = {}
    for applied in plan.applied:
        by_class.setdefault(applied.class_name or "", []).append(applied)
    left: dict[str, list] = {}
    for leftover in plan.left_for_review():
        left.setdefault(leftover.class_name or "", []).append(leftover)
    for name in sorted(set(by_class) | set(left), key=lambda n: (n == "", n)):
        out.append(f"## {name or 'Project'}")
        out.append("")
        if by_class.get(name):
            out.append("Patterns applied:")
            for applied in sorted(by_class[name], key=_applied_order):
                fix = applied.fix
                where = rel(root, applied.finding.span.path)
                safety = "safe" if fix.is_safe else "unsafe"
                out.append(
                    f"- [{applied.priority}] **{pattern_label(applied.rule_id, fix.title)}** "
                    f"({applied.rule_id}, {safety}) in `{where}`: {fix.title}. "
                    f"Reason: {applied.finding.message}"
                )
                if not fix.is_safe and fix.review:
                    out.append(f"  - review: {' '.join(fix.review.split())}")
                if applied.merged:
                    out.append(f"  - also resolves {len(applied.merged)} identical finding(s)")
        if left.get(name):
            out.append("Left for review:")
            for leftover in left[name]:
                finding = leftover.finding
                where = rel(root, finding.span.path)
                source_line = _line_of(plan, finding)
                out.append(
                    f"- `{where}:{source_line}` {finding.rule_id}: {finding.message} "
                    f"— {leftover.label}"
                )
                if leftover.detail:
                    out.append(f"  - {' '.join(leftover.detail.split())}")
        out.append("")
    changes = plan.changes()
    if changes:
        stats = plan.line_stats()
        out.append("## Files")
        out.append("")
        for path in changes:
            added, removed = stats[path]
            verb = "created" if path in plan.created else "modified"
            why = f" ({plan.generated[path]})" if path in plan.generated else ""
            out.append(f"- {verb} `{rel(root, path)}`: +{added} −{removed} lines{why}")
        total_add = sum(a for a, _ in stats.values())
        total_del = sum(r for _, r in stats.values())
        out.append(f"- total: {len(changes)} file(s), +{total_add} −{total_del} lines")
        out.append("")
    if plan.notes:
        out.append("## Generated")
        out.append("")
        out.extend(f"- {note}" for note in plan.notes)
        out.append("")
    if plan.applied:
        out.append("## Verify")
        out.append("")
        out.append("```sh")
        for command in verify_commands(plan):
            out.append(command)
        out.append("```")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _line_of(plan: HardenPlan, finding) -> int:  # type: ignore[no-untyped-def]
    data = plan.contents.get(finding.span.path)
    if data is None:
        try:
            data = finding.span.path.read_bytes()
        except OSError:
            return 0
    return data.count(b"\n", 0, finding.span.start) + 1


def verify_commands(plan: HardenPlan) -> list[str]:
    roots = sorted(
        {p.parent for p in plan.contents if p.name == "package.json"} | _roots(plan), key=str
    )
    commands: list[str] = []
    for root in roots or [plan.root]:
        where = rel(plan.root, root)
        # a folder name is data in a command the user pastes: one quoted word
        prefix = f"(cd {shlex.quote(where)} && " if where not in ("", ".") else ""
        suffix = ")" if prefix else ""
        commands.append(f"{prefix}npx tsc --noEmit{suffix}")
        has_tests = any(p.parent.parent == root / "test" for p in plan.generated) or any(
            (root / name).exists() for name in VITEST_CONFIG_NAMES
        )
        if has_tests:
            commands.append(f"{prefix}npx vitest run{suffix}")
        script = root / "scripts" / "deploy-gradual.sh"
        if script.exists() or script in plan.contents:
            commands.append(f"{prefix}scripts/deploy-gradual.sh{suffix}")
    return commands


def _roots(plan: HardenPlan) -> set[Path]:
    roots: set[Path] = set()
    for applied in plan.applied:
        path = applied.finding.span.path
        for folder in path.parents:
            if (folder / "package.json").exists() or (folder / "package.json") in plan.contents:
                roots.add(folder)
                break
            if folder == plan.root:
                break
    return roots
