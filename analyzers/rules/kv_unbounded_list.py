"""kv-unbounded-list: key-value storage reads that load everything, batches over the 128-key
limit, and one awaited `get` per loop iteration."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import REF_LIMITS, REF_RULES, REF_STATE, node_span
from durable_harden.analyzers.rules._kv import BATCH_LIMIT, KvCall, kv_calls
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import FUNCTION_TYPES, call_args, node_text, walk_type

DOCS = RuleDocs(
    what="""
Reports three uses of the key-value storage API (`ctx.storage`) of a Durable Object:

- `storage.list()` with no `limit`, `prefix` or `end` option (an options object we cannot read,
  such as a variable, is not reported);
- a batch `get`/`delete` with an array, or `put` with an object, known to hold more than 128
  keys (an array or object literal, `Array.from({ length: N })`, `new Array(N)`, directly or
  through a `const` of the same function);
- `await storage.get(key)` inside a loop: one storage round trip per key.
""",
    why="""
`list()` without a bound returns every key and value of the object in one Map: it works in tests
and exhausts the object's 128 MB of memory once the storage has grown. `get`, `put` and `delete`
take at most 128 keys per call and throw beyond that. Awaiting `get` key by key serialises the
reads (each waits for the previous one), while `get([...keys])` fetches up to 128 keys in one
call.
""",
    example="""
```ts
// Reported
const everything = await this.ctx.storage.list();
for (const id of ids) {
  const item = await this.ctx.storage.get<Item>(id);
  if (item) total += item.price;
}

// Production pattern
const page = await this.ctx.storage.list({ prefix: "item:", limit: 100 });
for (let start = 0; start < ids.length; start += 128) {
  const batch = ids.slice(start, start + 128);
  const items = await this.ctx.storage.get<Item>(batch);
  for (const id of batch) { const item = items.get(id); if (item) total += item.price; }
}
```
""",
    references=(
        f"{REF_LIMITS} (get/put/delete: at most 128 keys)",
        f"{REF_STATE} (list() options: start, startAfter, end, prefix, reverse, limit)",
        f"{REF_RULES} (bound list(); batch reads)",
    ),
)

LOOP_TYPES = frozenset({"for_statement", "for_in_statement", "while_statement", "do_statement"})
BOUNDING_OPTIONS = frozenset({"limit", "prefix", "end"})


def _object_keys(data: bytes, node: Node) -> set[str] | None:
    if node.type != "object":
        return None
    keys: set[str] = set()
    for child in node.named_children:
        if child.type == "pair":
            key = child.child_by_field_name("key")
            if key is not None:
                keys.add(node_text(data, key).strip("\"'"))
        elif child.type == "shorthand_property_identifier":
            keys.add(node_text(data, child))
        elif child.type == "spread_element":
            return None  # options we cannot read
    return keys


def _literal_size(data: bytes, node: Node) -> int | None:
    """Elements of an array literal / properties of an object literal, or the N of
    `Array.from({ length: N })` / `new Array(N)`; None when unknown."""
    if node.type in {"array", "object"}:
        items = [c for c in node.named_children if c.type != "comment"]
        if any(c.type == "spread_element" for c in items):
            return None
        return len(items)
    text = node_text(data, node)
    match = re.match(r"Array\.from\(\s*\{\s*length\s*:\s*([\d_]+)\s*\}", text) or re.match(
        r"new\s+Array\(\s*([\d_]+)\s*\)", text
    )
    if match:
        return int(match.group(1).replace("_", ""))
    return None


def _known_size(file: SourceFile, node: Node) -> int | None:
    data = file.data
    size = _literal_size(data, node)
    if size is not None or node.type != "identifier":
        return size
    name = node_text(data, node)
    scope = node.parent
    while scope is not None and scope.type not in FUNCTION_TYPES:
        scope = scope.parent
    if scope is None:
        return None
    for declarator in walk_type(scope, "variable_declarator", file=file):
        if declarator.start_byte > node.start_byte:
            break
        target = declarator.child_by_field_name("name")
        value = declarator.child_by_field_name("value")
        if target is not None and value is not None and node_text(data, target) == name:
            declaration = declarator.parent
            if declaration is not None and node_text(data, declaration).startswith("const"):
                return _literal_size(data, value)
    return None


def _loop_of(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in FUNCTION_TYPES:
        if parent.type in LOOP_TYPES:
            body = parent.child_by_field_name("body")
            if body is not None and body.start_byte <= node.start_byte < body.end_byte:
                return parent
        parent = parent.parent
    return None


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class KvListState:
    """What the fix needs (get-in-loop): the class and the `get()` call."""

    cls: DurableObjectClass
    get: KvCall | None = None


def _check_class(cls: DurableObjectClass) -> Iterator[Finding]:
    data = cls.file.data
    for kv in kv_calls(cls):
        args = call_args(kv.call)
        span = node_span(cls.file, kv.statement_expr)
        if kv.method == "list":
            options = _object_keys(data, args[0]) if args else set()
            if options is None or options & BOUNDING_OPTIONS:
                continue
            yield RULE.finding(
                "unbounded-list",
                "`list()` with no `limit`, `prefix` or `end` loads every key and value of the "
                "object into memory at once: bound it (`{ prefix, limit }`) and page with "
                "`startAfter`.",
                span,
                data={"kind": "list", "class": cls.name},
            )
            continue
        if not args:
            continue
        size = _known_size(cls.file, args[0])
        if size is not None and size > BATCH_LIMIT and args[0].type != "string":
            what = "object of" if kv.method == "put" else "array of"
            yield RULE.finding(
                "oversized-batch",
                f"`{kv.method}()` with an {what} {size} keys: the storage API takes at most "
                f"{BATCH_LIMIT} keys per call and throws beyond that. Split it into batches "
                f"of {BATCH_LIMIT}.",
                span,
                data={"kind": "batch", "class": cls.name, "size": size},
            )
            continue
        if kv.method != "get" or not kv.awaited:
            continue
        constant = args[0].type == "string" or (
            args[0].type == "template_string"
            and not any(c.type == "template_substitution" for c in args[0].children)
        )
        if args[0].type == "array" or constant or size is not None:
            continue
        loop = _loop_of(kv.statement_expr)
        if loop is None:
            continue
        yield RULE.finding(
            "get-in-loop",
            "`await get()` inside a loop: one storage round trip per key, each waiting for the "
            f"previous one. Read the keys in batches of up to {BATCH_LIMIT} with `get([...])`.",
            span,
            data={"kind": "get-in-loop", "class": cls.name, "loop": loop.start_byte},
            state=KvListState(cls, kv),
        )


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        yield from _check_class(cls)


RULE = Rule(
    id="kv-unbounded-list",
    title="Key-value storage read without a bound, or key by key",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "unbounded-list": "list() with no limit, prefix or end loads every key",
        "oversized-batch": "a batch get/put/delete with more keys than the API takes",
        "get-in-loop": "await get() inside a loop: one round trip per key",
    },
)

__all__ = ["RULE", "KvCall"]
