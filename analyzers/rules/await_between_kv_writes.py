"""await-between-kv-writes: several awaited `put`/`delete` calls in a row, which turns off the
write coalescing of the Durable Object storage API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import REF_RULES, REF_STATE, node_span
from durable_harden.analyzers.rules._kv import KvCall, kv_call
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import FUNCTION_TYPES, walk_type

DOCS = RuleDocs(
    what="""
Reports two or more awaited `storage.put()` / `storage.delete()` calls that follow each other
in the same block of a Durable Object with no other `await` between them. Writes on different
paths (one in a `try`, one in its `catch`; the two branches of an `if`) are separate blocks and
are not reported together; an `await` of anything else between two writes (a fetch, a
`setAlarm`, a `get`) ends the run.
""",
    why="""
The storage API coalesces writes that are issued with no `await` between them into one atomic
write: either all of them reach disk or none does, and the object pays one round trip. Awaiting
each `put` splits them: a failure between two awaits leaves the first written and the second
not (a half-updated object), and each write waits for the previous one. The output gate already
holds the object's responses until its writes are confirmed, so awaiting a `put` is not needed
for durability.
""",
    example="""
```ts
// Reported: two separate writes
await this.ctx.storage.put("status", "done");
await this.ctx.storage.put("finishedAt", Date.now());

// One atomic write
await this.ctx.storage.put({ status: "done", finishedAt: Date.now() });
```
""",
    references=(
        f"{REF_RULES} (write coalescing: no await between writes)",
        f"{REF_STATE} (put(entries), delete(keys), output gates)",
    ),
)

WRITES = frozenset({"put", "delete"})


@dataclass
class Run:
    """Consecutive key-value writes of one block, with the statements between them."""

    writes: list[KvCall] = field(default_factory=list)
    statements: list[Node] = field(default_factory=list)
    adjacent: bool = True
    trailing: dict[int, Node] = field(default_factory=dict)  # write index -> `// comment`


def _has_own_await(stmt: Node, file: SourceFile) -> bool:
    if file.data.find(b"await", stmt.start_byte, stmt.end_byte) < 0:
        return False  # no `await` keyword in its text: no await expression
    for node in walk_type(stmt, "await_expression", file=file):
        parent = node.parent
        nested = False
        while parent is not None and parent != stmt:
            if parent.type in FUNCTION_TYPES:
                nested = True
                break
            parent = parent.parent
        if not nested:
            return True
    return False


def _awaited_write(cls: DurableObjectClass, data: bytes, stmt: Node) -> KvCall | None:
    if stmt.type != "expression_statement":
        return None
    if data.find(b"await", stmt.start_byte, stmt.end_byte) < 0:
        return None  # not awaited
    if not stmt.named_children:
        return None
    expr = stmt.named_children[0]
    for call in walk_type(expr, "call_expression", file=cls.file):
        kv = kv_call(cls, data, call)
        if kv is not None and kv.method in WRITES and kv.awaited and kv.statement_expr == expr:
            return kv
    return None


def runs_in_block(cls: DurableObjectClass, block: Node) -> list[Run]:
    data = cls.file.data
    runs: list[Run] = []
    current = Run()

    def flush() -> None:
        nonlocal current
        if len(current.writes) >= 2:
            runs.append(current)
        current = Run()

    previous: Node | None = None
    for stmt in block.named_children:
        if stmt.type == "comment":
            same_line = (
                previous is not None
                and current.statements
                and previous == current.statements[-1]
                and stmt.start_point[0] == previous.end_point[0]
            )
            if same_line:
                current.trailing[len(current.writes) - 1] = stmt
            elif current.writes:
                current.adjacent = False
            previous = stmt
            continue
        previous = stmt
        write = _awaited_write(cls, data, stmt)
        if write is not None:
            current.writes.append(write)
            current.statements.append(stmt)
        elif _has_own_await(stmt, cls.file):
            flush()
        elif current.writes:
            current.adjacent = False
    flush()
    return runs


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class WritesState:
    """What the fix needs: the class and the run of awaited writes."""

    cls: DurableObjectClass
    run: Run


_WRITE_WORDS = tuple(sorted(w.encode() for w in WRITES))


def _write_words(data: bytes, start: int, end: int) -> int:
    """Places of the write methods' names in data[start:end] (at least one per write)."""
    return sum(data.count(word, start, end) for word in _WRITE_WORDS)


def _check_class(cls: DurableObjectClass) -> Iterator[Finding]:
    data = cls.file.data
    if _write_words(data, cls.node.start_byte, cls.node.end_byte) < 2:
        return  # each write names its method (put / delete): a class naming them once has none
    for block in walk_type(cls.node, "statement_block", file=cls.file):
        # a run is two or more awaited writes, each its own statement with its own `await`: a
        # block whose text holds fewer than two (most blocks of a class) has none
        start, end = block.start_byte, block.end_byte
        if data.count(b"await", start, end) < 2 or _write_words(data, start, end) < 2:
            continue
        for run in runs_in_block(cls, block):
            first = run.statements[0]
            related = [
                Related(node_span(cls.file, s), "another awaited write") for s in run.statements[1:]
            ]
            yield RULE.finding(
                "awaited-writes",
                f"{len(run.writes)} awaited storage writes in a row: each `await` splits what "
                "would be one atomic, coalesced write into separate ones. Write them with no "
                "await between (or as one `put({…})`).",
                node_span(cls.file, first),
                related,
                data={
                    "class": cls.name,
                    "statements": [s.start_byte for s in run.statements],
                },
                state=WritesState(cls, run),
            )


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        yield from _check_class(cls)


RULE = Rule(
    id="await-between-kv-writes",
    title="Awaited storage writes in a row are not coalesced",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "awaited-writes": "storage writes awaited one by one lose their coalesced atomic write",
    },
)
