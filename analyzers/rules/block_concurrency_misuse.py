"""block-concurrency-misuse: blockConcurrencyWhile outside the constructor, or around I/O."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import (
    REF_RULES,
    REF_STATE,
    calls_mentioning,
    node_span,
)
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import (
    call_args,
    callee_parts,
    contains,
    node_text,
    walk_type,
)

DOCS = RuleDocs(
    what="""
Reports `ctx.blockConcurrencyWhile(...)` (through any alias of the state) in a Durable Object
method other than the constructor, and in the constructor when its callback calls `fetch()`
or a Durable Object stub.

Not reported: a guarded lazy initialisation that runs once per wake, like constructor set-up:
the call runs only while a member of the object that the class sets is unset (`if
(this.loaded) return;` before it, `if (!this.ready) { … }` around it, `this.init ??=
this.ctx.blockConcurrencyWhile(…)`). A call that runs on every request (wrapping a whole
`fetch()`) is reported.
""",
    why="""
`blockConcurrencyWhile` stops every other event from reaching the object until the callback
finishes. It belongs in the constructor, around schema set-up and migrations. Per request it
caps throughput (about 5 ms each means about 200 requests per second); around network I/O one
slow call stalls the object, and a callback that runs over 30 seconds or throws resets it.
""",
    example="""
```ts
async fetch(req: Request) {
  await this.ctx.blockConcurrencyWhile(async () => { /* … */ });  // reported
}
constructor(ctx: DurableObjectState, env: Env) {
  super(ctx, env);
  ctx.blockConcurrencyWhile(async () => this.migrate());          // the right place
}
```
""",
    references=(f"{REF_RULES}", f"{REF_STATE} (blockConcurrencyWhile)"),
    no_fix="""
The input gates of the runtime already serialise storage operations within a request, so most
per-request uses can simply be removed, but whether the code relied on the lock across awaits of
external I/O needs a human decision.
""",
)


_THIS_MEMBER = re.compile(r"\bthis\.(#?\w+)")


def _assigned_members(data: bytes, cls_node: Node) -> set[str]:
    found: set[str] = set()
    for node in walk_type(cls_node, "assignment_expression", "augmented_assignment_expression"):
        left = node.child_by_field_name("left")
        if left is not None:
            match = _THIS_MEMBER.fullmatch(node_text(data, left).strip())
            if match:
                found.add(match.group(1))
    return found


def once_per_wake(data: bytes, cls_node: Node, method: Node, call: Node) -> bool:
    """A guarded lazy initialisation: the call runs only while a member flag or promise of the
    object is unset (`if (this.loaded) return;` before it, `if (!this.ready) { … }` around it,
    `this.init ??= ctx.blockConcurrencyWhile(…)`), and the class sets that member. It runs once
    per wake, like constructor set-up."""
    members = _assigned_members(data, cls_node)

    def guards(cond: Node | None) -> bool:
        return cond is not None and any(
            m in members for m in _THIS_MEMBER.findall(node_text(data, cond))
        )

    node = call.parent
    while node is not None and node != method:
        if node.type == "augmented_assignment_expression":
            left = node.child_by_field_name("left")
            op = node.child_by_field_name("operator")
            if (
                left is not None
                and guards(left)
                and (op is None or node_text(data, op) in {"??=", "||="})
            ):
                return True
        if node.type == "if_statement":
            consequence = node.child_by_field_name("consequence")
            if consequence is not None and consequence.start_byte <= call.start_byte < (
                consequence.end_byte
            ):
                if guards(node.child_by_field_name("condition")):
                    return True
        node = node.parent
    body = method.child_by_field_name("body")
    if body is None:
        return False
    for stmt in body.named_children:
        if stmt.start_byte >= call.start_byte:
            break
        if stmt.type != "if_statement" or not guards(stmt.child_by_field_name("condition")):
            continue
        consequence = stmt.child_by_field_name("consequence")
        if consequence is not None and any(
            True for _ in walk_type(consequence, "return_statement")
        ):
            return True
    return False


def check(model: ProjectModel) -> Iterator[Finding]:
    # the namespace accesses of each file, gathered once and only when a constructor's
    # blockConcurrencyWhile is found (it was a scan of every access of the project per class)
    by_file: dict[SourceFile, list[Node]] | None = None
    for cls in model.classes:
        data = cls.file.data
        ctor = cls.constructor
        for call in calls_mentioning(data, cls.node, "blockConcurrencyWhile", file=cls.file):
            parts = callee_parts(data, call)
            if parts is None or parts[1] != "blockConcurrencyWhile":
                continue
            if parts[0] not in cls.aliases.ctx:
                continue
            func = call.child_by_field_name("function")
            target = func.child_by_field_name("property") if func is not None else None
            span = node_span(cls.file, target or call)
            if ctor is None or not contains(ctor, call):
                method = next((n for n, m in cls.methods.items() if contains(m, call)), "a method")
                node = cls.methods.get(method)
                if node is not None and once_per_wake(data, cls.node, node, call):
                    continue
                yield RULE.finding(
                    "outside-constructor",
                    f"`blockConcurrencyWhile` in `{method}` of `{cls.name}` blocks every other "
                    "request while it runs; use it only in the constructor (schema set-up).",
                    span,
                    data={"class": cls.name, "problem": "outside-constructor"},
                )
                continue
            args = call_args(call)
            if not args:
                continue
            # the callback's calls whose callee may spell `fetch` (found from the word's
            # places, kept between keystrokes: a walk queried the constructor's type index
            # on every keystroke), checked exactly below
            io = [
                c
                for c in calls_mentioning(data, args[0], "fetch", file=cls.file)
                if (callee_parts(data, c) or ("", ""))[1] == "fetch"
                and (callee_parts(data, c) or ("x", ""))[0] in {"", "globalThis"}
            ]
            if by_file is None:
                by_file = {}
                for access in model.namespace_accesses:
                    by_file.setdefault(access.file, []).append(access.node)
            io += [a for a in by_file.get(cls.file, []) if contains(args[0], a)]
            if io:
                yield RULE.finding(
                    "io-inside",
                    f"`blockConcurrencyWhile` in the constructor of `{cls.name}` waits on network "
                    "I/O (fetch or a Durable Object call): one slow answer stalls the object, "
                    "and 30 s resets it.",
                    span,
                    data={"class": cls.name, "problem": "io-inside"},
                )


RULE = Rule(
    id="block-concurrency-misuse",
    title="blockConcurrencyWhile used per request or around network I/O",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "outside-constructor": "blockConcurrencyWhile outside the constructor blocks every other request",
        "io-inside": "blockConcurrencyWhile in the constructor waits on network I/O",
    },
)
