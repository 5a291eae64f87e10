"""Fix for sql-bindings-mismatch: split a multi-statement exec() whose early statements take
parameters into one exec() per statement, each with its own arguments, in order. The original
call keeps the last statement (and so its result); the others are inserted before it, in the
literal's own quotes and layout."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._sqlexec import binding_args, literal_is_inline, params_of
from durable_harden.analyzers.rules.sql_bindings_mismatch import CallState
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.analyzers.tsutil import call_args, node_text, walk_type
from durable_harden.codeactions._execedit import CannotFix, exec_receiver
from durable_harden.codeactions._tsedit import indent_at, indent_unit, line_start, statement_of
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import SAFE, TIER_CORRECTNESS, FixDocs, FixSpec, Offer

_PURE_CALLS = {
    "Date.now",
    "JSON.stringify",
    "String",
    "Number",
    "Math.floor",
    "Math.min",
    "Math.max",
}


def _literal_end_of(stmt: SqlStatement) -> int:
    """Byte just after the statement's `;` in the source (or its end when it has none)."""
    data = stmt.file.data
    end = stmt.span().end
    rest = data[end : stmt.literal.end_byte - 1]
    stripped = rest.lstrip(b" \t\r\n")
    if stripped.startswith(b";"):
        return end + (len(rest) - len(stripped)) + 1
    return end


def _same_line_comment(stmt: SqlStatement, after: int) -> int:
    """End of a `-- comment` that follows the statement's `;` on the same line (else after)."""
    data = stmt.file.data
    limit = stmt.literal.end_byte - 1
    line_end = data.find(b"\n", after, limit)
    line_end = limit if line_end == -1 else line_end
    if data[after:line_end].strip().startswith(b"--"):
        return line_end
    return after


def build(finding: Finding, model: ProjectModel) -> Fix:
    if finding.data.get("kind") != "not-last":
        raise CannotFix("only a statement that is not the last has a fix")
    group = list(state_of(finding, CallState).statements)
    last = group[-1]
    if not literal_is_inline(last) or last.has_spread_binding:
        raise CannotFix("SQL not written in the call")
    if [s.index_in_call for s in group] != list(range(last.statements_in_call)):
        raise CannotFix("statements of the call not all known")
    counts = []
    for stmt in group:
        params = params_of(stmt)
        if params is None or params.named or params.numbered or stmt.substitutions:
            raise CannotFix("only plain ? parameters and no substitutions are split")
        counts.append(len(params.positional))
    args = binding_args(last)
    if sum(counts) != len(args):
        raise CannotFix("argument count does not match the parameters")
    for arg in args:
        for call in walk_type(arg, "call_expression"):
            func = call.child_by_field_name("function")
            if func is None or node_text(last.call_file.data, func) not in _PURE_CALLS:
                raise CannotFix("an argument calls code that could observe the split")
    receiver = exec_receiver(last.call)
    if receiver is None or receiver.type not in {"identifier", "member_expression"}:
        raise CannotFix("receiver is not a plain name")
    if any(c.type == "call_expression" for c in walk_type(receiver, "call_expression")):
        raise CannotFix("receiver has calls")
    data = last.call_file.data
    file_path = last.call_file.path
    holder = statement_of(last.call)
    if holder.parent is None or holder.parent.type not in {"statement_block", "program"}:
        raise CannotFix("the call is not a statement in a block")
    if data[line_start(data, holder.start_byte) : holder.start_byte].strip():
        raise CannotFix("the statement shares its line")

    literal = last.literal
    template = literal.type == "template_string"
    quote = node_text(data, literal)[0]
    content_start, content_end = literal.start_byte + 1, literal.end_byte - 1
    tail = data[_literal_end_of(group[-1]) : content_end].decode()
    if tail.strip():
        raise CannotFix("text after the last statement")
    indent = indent_at(data, holder.start_byte)
    unit = indent_unit(data)
    all_args = call_args(last.call)
    multiline = b"\n" in data[all_args[0].end_byte : last.call.end_byte] and len(all_args) > 1
    receiver_text = node_text(data, receiver)
    arg_texts = [node_text(data, a) for a in args]

    new_calls: list[str] = []
    previous_end = content_start
    used = 0
    for stmt, count in zip(group[:-1], counts[:-1], strict=True):
        span = stmt.span()
        lead = data[previous_end : span.start].decode()
        if not template:
            lead = ""
        semicolon_end = _literal_end_of(stmt)
        comment_end = _same_line_comment(stmt, semicolon_end) if template else semicolon_end
        body = data[span.start : span.end].decode() + data[semicolon_end:comment_end].decode()
        piece = f"{quote}{lead}{body}{tail if template else ''}{quote}"
        mine = arg_texts[used : used + count]
        used += count
        if multiline and mine:
            inner = indent + unit
            parts = "".join(f"{inner}{a},\n" for a in [piece, *mine])
            new_calls.append(f"{indent}{receiver_text}.exec(\n{parts}{indent});\n")
        else:
            new_calls.append(f"{indent}{receiver_text}.exec({', '.join([piece, *mine])});\n")
        previous_end = comment_end
    at = line_start(data, holder.start_byte)
    edits = [Edit(file_path, at, at, "".join(new_calls))]
    real_start = max(group[-1].span().start, previous_end)
    while real_start < content_end and data[real_start : real_start + 1] in b" \t\r\n":
        real_start += 1
    lead_last = data[previous_end:real_start].decode()
    edits.append(Edit(file_path, content_start, real_start, lead_last if template else ""))
    if used:
        if used < len(args):
            edits.append(Edit(file_path, args[0].start_byte, args[used].start_byte, ""))
        else:
            edits.append(Edit(file_path, all_args[0].end_byte, args[-1].end_byte, ""))
    return Fix(
        fix_id="sql-bindings-mismatch.split-exec",
        title=f"Split into {len(group)} exec() calls, one per statement",
        safety=Safety.SAFE,
        edits=edits,
        review=(
            "Each statement now runs in its own exec() with its own arguments, in the same "
            "order; the last call keeps the result the code used."
        ),
    )


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "one exec() per statement",
            SAFE,
            """
For parameters in a non-final statement: the call is split into one `exec()` per statement, in
order, each taking its own arguments (the original call keeps the last statement and its result).
Offered when every statement uses plain `?`, the argument count matches the total, the SQL is
written in the call itself and the call is a statement of its own.
""",
            why="""
Safe: the original call fails at run time (a statement that is not the last of an `exec()` string
cannot take parameters), so no working behaviour exists to change; the split runs the same
statements in the same order with the arguments each one's `?` were written for, and the original
call keeps the last statement's cursor.
""",
        ),
    ),
    not_offered="""
A plain count mismatch: only the author knows which argument is missing.
""",
    references=(
        "https://github.com/cloudflare/workerd/blob/main/src/workerd/api/sql.c%2B%2B (only the last statement of an exec() string takes parameters)",
    ),
)


SPEC = FixSpec("sql-bindings-mismatch", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
