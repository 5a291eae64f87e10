"""`durable-harden inspect`: the project model as the rules see it, as plain JSON-able data.

For users debugging a finding ("why does it think this table is never pruned?") and for the
ecosystem check (every Durable Object class of a corpus must be found). Pure: no LSP, no I/O
beyond what building the model reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.exports import export_aliases, pattern_names
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._sql import delete_kinds, inserted_table
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.analyzers.tsutil import node_text, string_value, walk_type
from durable_harden.analyzers.wrangler import WranglerConfig

# How a class was recognised (DurableObjectClass.reason), in words.
REASONS = {
    "extends": "extends DurableObject from cloudflare:workers",
    "library": "extends a Durable Object base class of a known library",
    "subclass": "extends another Durable Object class of the project",
    "legacy": "constructor takes a DurableObjectState, or implements DurableObject",
    "binding": "named by a durable_objects binding of the project's wrangler config",
}


def _rel(model: ProjectModel, path: Path) -> str:
    try:
        return path.relative_to(model.root).as_posix()
    except ValueError:
        return path.as_posix()


def _where(model: ProjectModel, stmt: SqlStatement) -> dict[str, Any]:
    offset = stmt.offsets[0] if stmt.offsets else 0
    row, _ = stmt.file.lines.point(offset)
    text = " ".join(stmt.text.split())
    return {
        "file": _rel(model, stmt.file.path),
        "line": row + 1,
        "class": stmt.cls.name if stmt.cls is not None else None,
        "method": stmt.method,
        "sql": text if len(text) <= 160 else text[:157] + "...",
    }


def _config(model: ProjectModel, config: WranglerConfig) -> dict[str, Any]:
    return {
        "config": _rel(model, config.path),
        "name": config.name,
        "main": _rel(model, config.main) if config.main is not None else None,
        "compatibility_date": config.compatibility_date,
        "compatibility_flags": config.compatibility_flags,
        "environments": sorted(config.envs),
        "bindings": [
            {
                "name": b.name,
                "class_name": b.class_name,
                "script_name": b.script_name,
                "env": b.env,
            }
            for b in config.bindings
        ],
        "declared_classes": sorted(config.declared_classes()),
    }


def _class(model: ProjectModel, cls: DurableObjectClass) -> dict[str, Any]:
    row, column = cls.file.lines.point(cls.name_node.start_byte)
    config = model.config_for_class(cls)
    return {
        "name": cls.name,
        "file": _rel(model, cls.file.path),
        "line": row + 1,
        "column": column + 1,
        "project": _rel(model, config.path) if config is not None else None,
        "recognised_by": cls.reason,
        "recognised_because": REASONS.get(cls.reason, cls.reason),
        "base": cls.base,
        "exported": cls.exported,
        "methods": sorted(cls.methods),
        "aliases": {
            "ctx": sorted(cls.aliases.ctx),
            "storage": sorted(cls.aliases.storage),
            "sql": sorted(cls.aliases.sql),
        },
    }


def _tables(model: ProjectModel) -> list[dict[str, Any]]:
    scopes: dict[Path, list[SqlStatement]] = {}
    for stmt in model.statements:
        config = model.config_for_path(stmt.file.path)
        scopes.setdefault(config.path if config is not None else model.root, []).append(stmt)
    found: list[dict[str, Any]] = []
    for scope, statements in sorted(scopes.items(), key=lambda item: str(item[0])):
        schema = model.schema_for(statements[0].file.path)
        inserts: dict[str, list[SqlStatement]] = {}
        prunes: dict[str, list[tuple[SqlStatement, str]]] = {}
        for stmt in statements:
            written = inserted_table(stmt)
            if written is not None:
                inserts.setdefault(written, []).append(stmt)
            for pruned, how in delete_kinds(stmt, schema).items():
                prunes.setdefault(pruned, []).append((stmt, how))
        names = sorted(set(schema.tables) | set(inserts))
        for key in names:
            table = schema.table(key)
            found.append(
                {
                    "project": _rel(model, scope),
                    "name": table.name if table is not None else key,
                    "columns": table.columns if table is not None else None,
                    "primary_key": table.primary_key if table is not None else None,
                    "created_at": (
                        _where(model, table.create)
                        if table is not None and table.create is not None
                        else None
                    ),
                    "indexes": [
                        {
                            "name": index.name,
                            "columns": index.columns,
                            "unique": index.unique,
                            "origin": index.origin,
                        }
                        for index in schema.indexes_of(key)
                    ],
                    "inserted_at": [_where(model, s) for s in inserts.get(key, [])],
                    # how: "range" (by age or count), "filter", "all", "drop", "key" (one row
                    # by its key), "unknown"; see rules/_sql.py delete_kinds
                    "pruned_at": [
                        {**_where(model, s), "how": how} for s, how in prunes.get(key, [])
                    ],
                }
            )
    return found


def _value_origin(model: ProjectModel, name: str) -> dict[str, Any] | None:
    """Where a bound class name that no class declaration carries comes from: a value made by
    a factory or a wrapper (`export const Chat = makeObject(…)`), a destructured factory result,
    an import from a package, or a re-export alias."""
    for file in model.files:
        data = file.data
        for decl in walk_type(file.root, "variable_declarator"):
            target = decl.child_by_field_name("name")
            value = decl.child_by_field_name("value")
            if target is None or value is None or name not in pattern_names(data, target):
                continue
            if target.type == "identifier" and value.type == "identifier":
                continue  # `const X = Y`: look at Y's own origin instead
            row, _ = file.lines.point(decl.start_byte)
            text = " ".join(node_text(data, value).split())
            return {
                "how": "value",
                "detail": f"made by `{text[:80]}`",
                "file": _rel(model, file.path),
                "line": row + 1,
            }
    for file in model.files:
        data = file.data
        for stmt in file.root.named_children:
            if stmt.type not in {"import_statement", "export_statement"}:
                continue
            source = stmt.child_by_field_name("source")
            module = string_value(data, source) if source is not None else None
            if module is None:
                continue
            names = {node_text(data, n) for n in walk_type(stmt, "identifier")}
            if name in names:
                row, _ = file.lines.point(stmt.start_byte)
                how = "package" if not module.startswith(".") else "module"
                return {
                    "how": how,
                    "detail": f"{'imported' if stmt.type == 'import_statement' else 're-exported'} from `{module}`",
                    "file": _rel(model, file.path),
                    "line": row + 1,
                }
    return None


def _bound_classes(model: ProjectModel) -> list[dict[str, Any]]:
    """Each class a binding (of this Worker) or a migration names, and how the tool sees it."""
    found: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for config in sorted(model.configs, key=lambda c: c.path):
        names = [b.class_name for b in config.bindings if b.script_name is None]
        names += sorted(config.declared_classes())
        for class_name in names:
            key = (str(config.path), class_name)
            if key in seen:
                continue
            seen.add(key)
            classes = [
                c
                for c in model.classes_named(class_name)
                if model.config_for_path(c.file.path) in (config, None)
            ]
            row: dict[str, Any] = {"project": _rel(model, config.path), "class": class_name}
            if classes:
                cls = classes[0]
                line, _ = cls.file.lines.point(cls.name_node.start_byte)
                row.update(how="class", file=_rel(model, cls.file.path), line=line + 1)
            else:
                aliased = [
                    (f, local)
                    for f in model.files
                    for exported, local in export_aliases(f).items()
                    if exported == class_name
                ]
                origin = None
                if aliased:
                    file, local = aliased[0]
                    line, _ = file.lines.point(0)
                    origin = {"how": "alias", "detail": f"exported as an alias of `{local}`"}
                origin = origin or _value_origin(model, class_name)
                row.update(origin or {"how": "missing", "detail": "no file declares or exports it"})
            found.append(row)
    return found


def inspect_model(model: ProjectModel) -> dict[str, Any]:
    """The model as data: projects (wrangler configs), DO classes, SQL tables, problems."""
    return {
        "root": model.root.as_posix(),
        "projects": [_config(model, c) for c in sorted(model.configs, key=lambda c: c.path)],
        "classes": [_class(model, c) for c in model.classes],
        # every class a binding names: "class" (declared), "value" (made by a factory or a
        # wrapper), "package"/"module" (imported or re-exported), "alias", or "missing"
        "bound_classes": _bound_classes(model),
        "tables": _tables(model),
        "sql_statements": len(model.statements),
        "files": len(model.files),
        "problems": [{"file": _rel(model, p.path), "message": p.message} for p in model.problems],
    }
