"""JSON files edited in place (package.json's devDependencies and scripts), keeping their
formatting: used by the rollout fix and the harden outputs."""

from __future__ import annotations

import json
import re
from functools import cache

import tree_sitter_json
from tree_sitter import Language, Node, Parser

from durable_harden.analyzers import safejson


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
