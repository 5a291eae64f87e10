"""id-name-undefined: `this.ctx.id.name` read in a class some caller reaches without a name."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._bindings import UNNAMED_ID_METHODS, accesses_to
from durable_harden.analyzers.rules._common import REF_CHANGELOG, REF_RULES, node_span
from durable_harden.analyzers.tsutil import node_text, normalize_expr, walk_type

DOCS = RuleDocs(
    what="""
Reports reads of `this.ctx.id.name` (through any alias of the state: `this.state.id.name`, the
constructor's `ctx.id.name`) in a Durable Object class whose namespace is reached somewhere in
the project with `newUniqueId()` or `idFromString()`. Callers are found across the project
(`env.BINDING.newUniqueId()`, `this.env.BINDING.idFromString(...)`) and mapped to the class
through the wrangler config's bindings. Reads already defaulted (`this.ctx.id.name ?? …`,
`this.ctx.id.name || …`) are not reported.
""",
    why="""
Since changelog 2026-03-15 `ctx.id.name` is populated inside the object when the caller made
the id with `idFromName()` or `getByName()`. For ids from `newUniqueId()` or `idFromString()`
(and for names over 1,024 bytes) it is `undefined`, so code that relies on it writes
`undefined` into keys, paths and logs.
""",
    example="""
```ts
const id = env.EXPORT_JOBS.newUniqueId();          // Worker
const key = `exports/${this.ctx.id.name}.json`;     // reported: always "undefined.json"

const key = `exports/${this.ctx.id.name ?? this.ctx.id.toString()}.json`; // fixed
```
""",
    references=(
        f"{REF_CHANGELOG} (2026-03-15: ctx.id.name populated for idFromName/getByName)",
        f"{REF_RULES}",
    ),
)


def name_reads(cls: DurableObjectClass) -> Iterator[Node]:
    """`<ctx>.id.name` member expressions inside the class, for every ctx alias."""
    data = cls.file.data
    wanted = {f"{ctx}.id.name" for ctx in cls.aliases.ctx}
    for node in walk_type(cls.node, "member_expression"):
        if normalize_expr(node_text(data, node)) in wanted:
            yield node


def _defaulted(data: bytes, node: Node) -> bool:
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None or parent.type != "binary_expression":
        return False
    op = parent.child_by_field_name("operator")
    left = parent.child_by_field_name("left")
    return (
        op is not None
        and node_text(data, op) in {"??", "||"}
        and left is not None
        and left.start_byte == node.start_byte
        and left.end_byte == node.end_byte
    )


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        unnamed = [a for a in accesses_to(model, cls) if a.method in UNNAMED_ID_METHODS]
        if not unnamed:
            continue
        data = cls.file.data
        methods = sorted({f"{a.method}()" for a in unnamed})
        related = [
            Related(
                node_span(a.file, a.node), f"`{a.method}()` reaches `{cls.name}` without a name"
            )
            for a in unnamed
        ]
        for node in name_reads(cls):
            if _defaulted(data, node):
                continue
            expr = node_text(data, node)
            ctx_expr = expr.rsplit(".", 2)[0]
            yield RULE.finding(
                "name-undefined",
                f"`{expr}` is undefined in `{cls.name}` for objects reached with "
                f"{' / '.join(methods)}; fall back to `{ctx_expr}.id.toString()`.",
                node_span(cls.file, node),
                related=related,
                data={
                    "class": cls.name,
                    "fallback": f"{ctx_expr}.id.toString()",
                    "methods": methods,
                },
            )


RULE = Rule(
    id="id-name-undefined",
    title="`ctx.id.name` is undefined for objects reached with newUniqueId() or idFromString()",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "name-undefined": "ctx.id.name is read where some callers reach the object without a name",
    },
)
