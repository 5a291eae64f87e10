"""Fix for class-not-exported: re-export the class from the Worker's main module."""

from __future__ import annotations

import os
from pathlib import Path

from tree_sitter import Node

from durable_harden.analyzers.exports import export_entries
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel, resolve_module
from durable_harden.analyzers.rules._bindings import exports_name, known_files
from durable_harden.analyzers.rules.class_not_exported import ExportState
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import node_text, string_value
from durable_harden.codeactions._style import Style
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.harden.generated_tests import reachable_case
from durable_harden.codeactions.spec import SAFE, TIER_CORRECTNESS, FixDocs, FixSpec, Offer


def _module_sources(file: SourceFile) -> list[Node]:
    return [
        stmt
        for stmt in file.root.named_children
        if stmt.type in {"import_statement", "export_statement"}
        and stmt.child_by_field_name("source") is not None
    ]


def module_specifier(main: SourceFile, target: Path) -> str:
    """`./chat-room` for src/chat-room.ts seen from src/index.ts; `.js` kept when the module's
    own relative imports use it (Node-style ESM)."""
    rel = Path(os.path.relpath(target.with_suffix(""), main.path.parent)).as_posix()
    if rel.endswith("/index"):
        rel = rel[: -len("/index")]
    if not rel.startswith("."):
        rel = f"./{rel}"
    specs = [
        string_value(main.data, s.child_by_field_name("source"))  # type: ignore[arg-type]
        for s in _module_sources(main)
    ]
    relative = [s for s in specs if s and s.startswith(".")]
    if relative and all(s.endswith(".js") for s in relative):
        rel += ".js"
    return rel


def _style(main: SourceFile) -> tuple[str, str]:
    """(quote, semicolon) as the import the new line will follow is written."""
    sources = _module_sources(main)
    if not sources:
        return '"', ";"
    first = sources[-1]
    source = first.child_by_field_name("source")
    quote = (
        "'"
        if source is not None and main.data[source.start_byte : source.start_byte + 1] == b"'"
        else '"'
    )
    semi = ";" if node_text(main.data, first).rstrip().endswith(";") else ""
    return quote, semi


def _insertion(main: SourceFile) -> tuple[int, bool]:
    """(offset, after_statement): after the last import / re-export, else before the code."""
    sources = _module_sources(main)
    data = main.data
    if sources:
        end = sources[-1].end_byte
        line_end = data.find(b"\n", end)
        line_end = len(data) if line_end == -1 else line_end
        if line_end > end and data[line_end - 1 : line_end] == b"\r":
            line_end -= 1
        # a trailing `// comment` stays with its statement
        if data[end:line_end].strip() and not data[end:line_end].strip().startswith(b"//"):
            line_end = end
        return line_end, True
    first = next((c for c in main.root.named_children if c.type != "comment"), None)
    if first is None:
        return len(data), True
    return data.rfind(b"\n", 0, first.start_byte) + 1, False


def _in_export(cls_node: Node) -> bool:
    parent = cls_node.parent
    return parent is not None and parent.type == "export_statement"


def _export_keyword_edit(file: SourceFile, cls_node: Node) -> Edit | None:
    parent = cls_node.parent
    if parent is not None and parent.type == "export_statement":
        return None
    return Edit(file.path, cls_node.start_byte, cls_node.start_byte, "export ")


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    name = str(finding.data["class"])
    state = state_of(finding, ExportState)
    main, candidates = state.main, state.declared
    if len(candidates) != 1:
        return []
    cls = candidates[0]
    declaration = cls.node.parent if _in_export(cls.node) else cls.node
    if declaration is None or declaration.parent is None or declaration.parent.type != "program":
        return []  # declared inside a block or a function (a broken file): no export reaches it
    nl = Style.of(main.data).newline
    if cls.file is main:
        edit = _export_keyword_edit(main, cls.node)
        if edit is None:
            return []  # `export default class X` in the main module: renaming is a human choice
        return [
            Fix(
                fix_id="class-not-exported.export-keyword",
                title=f"Export class `{name}` from the main module",
                safety=Safety.SAFE,
                edits=[edit],
                review="Nothing to check: the class becomes a named export.",
            )
        ]
    edits: list[Edit] = []
    parent = cls.node.parent
    is_default = (
        parent is not None
        and parent.type == "export_statement"
        and any(c.type == "default" for c in parent.children)
    )
    if is_default:
        spec = f"default as {name}"
    else:
        if exports_name(cls.file, name, known_files(model)) is not True:
            keyword = _export_keyword_edit(cls.file, cls.node)
            if keyword is not None:
                edits.append(keyword)
        spec = name
    named = [e for e in export_entries(main) if e.exported == name]
    if named:
        # the main module already names it (`export { X } from "./x"` where ./x does not export
        # X): a second `export { X }` would be a duplicate export; exporting the class in its
        # own file is the whole fix, when the existing line re-exports from that file
        known = known_files(model)
        if not edits or not all(
            e.module is not None and resolve_module(main.path, e.module, known) is cls.file
            for e in named
        ):
            return []
        return [
            Fix(
                fix_id="class-not-exported.export-keyword",
                title=f"Export class `{name}` from {cls.file.path.name}",
                safety=Safety.SAFE,
                edits=edits,
                review=(
                    f"Nothing to check: {main.path.name} already re-exports `{name}` from "
                    f"{cls.file.path.name}, which now exports it."
                ),
            )
        ]
    quote, semi = _style(main)
    statement = (
        f"export {{ {spec} }} from {quote}{module_specifier(main, cls.file.path)}{quote}{semi}"
    )
    offset, after = _insertion(main)
    text = f"{nl}{statement}" if after else f"{statement}{nl}"
    if after and offset == len(main.data) and main.data and not main.data.endswith(b"\n"):
        text = f"{nl}{statement}"
    edits.append(Edit(main.path, offset, offset, text))
    return [
        Fix(
            fix_id="class-not-exported.reexport",
            title=f"Add `export {{ {spec} }}` to {main.path.name}",
            safety=Safety.SAFE,
            edits=edits,
            review="Nothing to check: the main module re-exports the class under its bound name.",
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "class exported from the main module",
            SAFE,
            """
Appends `export { X } from "./x";` to the main module, with the path computed relative to it from
the file that declares the class (quote style taken from the module's own imports).
""",
            why="""
Safe: a binding whose class the main module does not export fails every request (or the deploy),
so nothing working changes; the added re-export only makes the class reachable and adds no code
that runs.
""",
        ),
    ),
    not_offered="""
When more than one project file (or none) declares the class; when the class is declared inside a
block or a function (a broken file: no export statement reaches it there); when the main module
already has an export of that name that does not come from the class's own file (a second
`export { X }` would be a duplicate export, which TypeScript and the bundler reject). When the
main module already re-exports the name from the class's file, the fix only adds `export` to the
class there.
""",
)


SPEC = FixSpec(
    "class-not-exported",
    build,
    tier=TIER_CORRECTNESS,
    label="class exported from the main module",
    test_case=reachable_case,
    docs=FIX_DOCS,
)
