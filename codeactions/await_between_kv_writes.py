"""Fix for await-between-kv-writes (unsafe).

- consecutive `await storage.put(key, value)` statements on one storage (no comment or other
  statement between): one `await storage.put({ key: value, … })`;
- otherwise: `await` removed from every write but the last, so they coalesce.
"""

from __future__ import annotations

import re

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_RULES
from durable_harden.analyzers.rules._kv import KvCall
from durable_harden.analyzers.rules.await_between_kv_writes import WritesState
from durable_harden.analyzers.tsutil import call_args, node_text, string_value
from durable_harden.codeactions._execedit import CannotFix
from durable_harden.codeactions._tsedit import indent_at, indent_unit
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import UNSAFE, FixDocs, FixSpec, Offer

_IDENT = re.compile(r"^[A-Za-z_$][\w$]*$")


def _type_args(data: bytes, kv: KvCall) -> str:
    func = kv.call.child_by_field_name("function")
    args = kv.call.child_by_field_name("arguments")
    assert func is not None and args is not None
    return data[func.end_byte : args.start_byte].decode()


def build(finding: Finding, model: ProjectModel) -> Fix:
    state = state_of(finding, WritesState)
    cls, run = state.cls, state.run
    data = cls.file.data
    path = cls.file.path
    comments = {i: node_text(data, c) for i, c in run.trailing.items()}
    merged = _merged_put(data, run.writes, run.adjacent, comments)
    if merged is not None:
        first, last = run.statements[0], run.statements[-1]
        end = last.end_byte
        if len(run.writes) - 1 in run.trailing:
            end = run.trailing[len(run.writes) - 1].end_byte
        return Fix(
            fix_id="await-between-kv-writes.single-put",
            title=f"Write the {len(run.writes)} keys with one put({{…}})",
            safety=Safety.UNSAFE,
            edits=[Edit(path, first.start_byte, end, merged)],
            review=(
                "The keys are now written in one atomic put: all or none. A failure reports once "
                "for all of them, where it used to leave the earlier keys written."
            ),
        )
    edits = []
    for kv in run.writes[:-1]:
        func = kv.call.child_by_field_name("function")
        if func is not None and func.type == "await_expression" and func.named_children:
            node = func
        elif kv.statement_expr.type == "await_expression" and kv.statement_expr.named_children:
            node = kv.statement_expr
        else:
            raise CannotFix("await not found")
        edits.append(Edit(path, node.start_byte, node.named_children[0].start_byte, ""))
    return Fix(
        fix_id="await-between-kv-writes.drop-awaits",
        title="Drop the awaits between the storage writes so they coalesce",
        safety=Safety.UNSAFE,
        edits=edits,
        review=(
            "Error propagation changes: the earlier writes no longer throw at their own line; a "
            "failed write surfaces at the last awaited write or breaks the output gate (the "
            "object is reset and its responses are not sent). Code between the writes now runs "
            "before the earlier writes are confirmed."
        ),
    )


def _merged_put(
    data: bytes, writes: list[KvCall], adjacent: bool, comments: dict[int, str]
) -> str | None:
    if not adjacent or any(kv.method != "put" for kv in writes):
        return None
    receivers = {kv.receiver for kv in writes}
    if len(receivers) != 1:
        return None
    entries: list[tuple[str, str]] = []
    literal_keys: set[str] = set()
    for kv in writes:
        args = call_args(kv.call)
        if len(args) != 2:
            return None  # put(entries) or put(key, value, options)
        key, value = args
        text = string_value(data, key)
        if text is not None:
            if text in literal_keys:
                return None  # a duplicate property is a TypeScript error
            literal_keys.add(text)
            prop = text if _IDENT.match(text) else node_text(data, key)
        else:
            prop = f"[{node_text(data, key)}]"
        entries.append((prop, node_text(data, value)))
    if any(c.startswith("/*") for c in comments.values()):
        return None
    first = writes[0]
    func = first.call.child_by_field_name("function")
    assert func is not None
    member = func.named_children[0] if func.type == "await_expression" else func
    storage = member.child_by_field_name("object")
    assert storage is not None
    types = {_type_args(data, kv) for kv in writes}
    type_args = types.pop() if len(types) == 1 else ""
    indent = indent_at(data, writes[0].statement_expr.start_byte)
    unit = indent_unit(data)
    body = "".join(
        f"{indent}{unit}{prop}: {value},{' ' + comments[i] if i in comments else ''}\n"
        for i, (prop, value) in enumerate(entries)
    )
    return f"await {node_text(data, storage)}.put{type_args}({{\n{body}{indent}}});"


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "one put({…})",
            UNSAFE,
            """
When the writes are consecutive `put(key, value)` statements on the same storage: one
`put({ key: value, … })` (string keys become properties, other keys computed properties; the
type argument is kept when every call had the same).
""",
            why="""
Unsafe: errors and the order of confirmation change (see below).
""",
        ),
        Offer(
            "awaits dropped",
            UNSAFE,
            """
Otherwise (a `delete` among them, code in between): the `await` is dropped from every write but
the last.
""",
            why="""
Unsafe: as above.
""",
        ),
    ),
    review="""
Error propagation: a failing write no longer throws at its own line (the last awaited write, or
the output gate, reports it), and code between the writes now runs before the earlier writes are
confirmed.
""",
    references=(REF_RULES + " (writes with no await between them coalesce into one atomic write)",),
)


SPEC = FixSpec("await-between-kv-writes", build, docs=FIX_DOCS)
