"""What a module exports: one reader of `export` statements for the model and the rules.

`export_entries` lists every named export (keeping `A as X` renames and re-export sources);
`exported_names` is the model's summary of the same entries.
"""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import node_text, string_value

# bytes that continue an identifier (ASCII): `as` next to one is part of a longer name
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")


@frozen
class ExportEntry:
    exported: str  # the name other modules import
    local: str | None  # the name in the module it comes from (None for `export *`)
    module: str | None  # the module specifier it is re-exported from, if any
    node: Node


def export_entries(file: SourceFile) -> list[ExportEntry]:
    """Every named export statement of a module, keeping `A as X` renames."""
    cached = file.memo.get("export_entries")
    if cached is None:
        cached = file.memo["export_entries"] = tuple(_export_entries(file))
    return list(cached)


def _export_entries(file: SourceFile) -> list[ExportEntry]:
    data = file.data
    entries: list[ExportEntry] = []
    for stmt in file.root.named_children:
        if stmt.type != "export_statement":
            continue
        source = stmt.child_by_field_name("source")
        module = string_value(data, source) if source is not None else None
        is_default = any(child.type == "default" for child in stmt.children)
        decl = stmt.child_by_field_name("declaration")
        if is_default:
            # `export default class X` is not a named export of X, only of "default"
            entries.append(ExportEntry("default", None, None, stmt))
            continue
        if decl is not None:
            if decl.type in {
                "class_declaration",
                "abstract_class_declaration",
                "function_declaration",
            }:
                name = decl.child_by_field_name("name")
                if name is not None:
                    text = node_text(data, name)
                    entries.append(ExportEntry(text, text, None, stmt))
            elif decl.type in {"lexical_declaration", "variable_declaration"}:
                for declarator in decl.named_children:
                    name = declarator.child_by_field_name("name")
                    if name is None:
                        continue
                    # `export const { Jobs, JobsClient } = createDurableJobs(…)`: a class made
                    # by a factory is exported under each destructured name
                    for text in pattern_names(data, name):
                        entries.append(ExportEntry(text, text, None, stmt))
            continue
        clause = next((c for c in stmt.named_children if c.type == "export_clause"), None)
        if clause is not None:
            for spec in clause.named_children:
                if spec.type != "export_specifier":
                    continue
                name = spec.child_by_field_name("name")
                alias = spec.child_by_field_name("alias")
                if name is None:
                    continue
                local = _specifier_name(data, name)
                exported = _specifier_name(data, alias) if alias is not None else local
                entries.append(ExportEntry(exported, local, module, stmt))
        elif module is not None and any(c.type == "*" for c in stmt.children):
            entries.append(ExportEntry("*", None, module, stmt))
    return entries


def _specifier_name(data: bytes, node: Node) -> str:
    # `export { X as "X" }` names may be string literals
    value = string_value(data, node)
    return value if value is not None else node_text(data, node)


def exported_names(file: SourceFile) -> dict[str, str | None]:
    """Names this module exports: exported name -> module it is re-exported from (None if local;
    "=<local>" for a local declared under another name).

    `export * from "./x"` is recorded under the key "*<module>"; `export default …` is not a
    named export and is left out.
    """
    names: dict[str, str | None] = {}
    for entry in export_entries(file):
        if entry.exported == "*":
            names[f"*{entry.module}"] = entry.module
        elif entry.local is None:  # `export default <declaration or expression>`
            continue
        elif entry.module is not None:
            names[entry.exported] = entry.module
        else:
            names[entry.exported] = None if entry.local == entry.exported else f"={entry.local}"
    return names


def pattern_names(data: bytes, pattern: Node) -> list[str]:
    """The names a declaration binds: `x`, `{ a, b: c, ...d }` (a, c, d), `[e, f]`."""
    if pattern.type == "identifier":
        return [node_text(data, pattern)]
    names: list[str] = []
    for child in pattern.named_children:
        if child.type in {"shorthand_property_identifier_pattern", "identifier"}:
            names.append(node_text(data, child))
        elif child.type == "pair_pattern":
            value = child.child_by_field_name("value")
            if value is not None:
                names.extend(pattern_names(data, value))
        elif child.type in {"rest_pattern", "object_pattern", "array_pattern"}:
            names.extend(pattern_names(data, child))
        elif child.type in {"object_assignment_pattern", "assignment_pattern"}:
            left = child.child_by_field_name("left") or (
                child.named_children[0] if child.named_children else None
            )
            if left is not None:
                names.extend(pattern_names(data, left))
    return names


def export_aliases(file: SourceFile) -> dict[str, str]:
    """`export { Local as Exported }` (with or without `from`): exported name -> local name."""
    if "export_entries" not in file.memo and not _may_rename(file):
        return {}  # (the model asks every file; most rename nothing)
    return {
        e.exported: e.local
        for e in export_entries(file)
        if e.local is not None and e.exported not in {e.local, "*", "default"}
    }


def _may_rename(file: SourceFile) -> bool:
    """Whether the file may export a name under another: a renaming specifier holds the keyword
    `as`, two bytes no other token spells whole (`class`, `alias` and `AS` are other words).
    A tree with a syntax error is read (a MISSING or joined token)."""
    data = file.data
    at = data.find(b"as")
    while at >= 0:
        before = data[at - 1] if at else 0x20
        after = data[at + 2] if at + 2 < len(data) else 0x20
        if before not in _WORD_BYTES and after not in _WORD_BYTES:
            return True
        at = data.find(b"as", at + 2)
    return file.root.has_error
