"""Wrangler configuration (wrangler.toml / wrangler.json / wrangler.jsonc), with byte spans.

Values come from maintained parsers (tomllib, json5 for JSONC); spans come from tree-sitter's
JSON and TOML grammars, so findings land on the config's own lines and fixes keep its comments.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import tree_sitter_json
from tree_sitter import Language, Node, Parser

from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.roots import CONFIG_NAMES
from durable_harden.analyzers.span import Span

# `wrangler.production.toml`, `wrangler.staging.jsonc`: a whole config per environment, deployed
# with `wrangler deploy --config <file>`
_ENV_CONFIG = re.compile(r"wrangler\.[\w-]+\.(?:toml|jsonc?)")


def is_config_name(name: str) -> bool:
    """A wrangler config file name: the base names, or an environment's own file."""
    return name in CONFIG_NAMES or _ENV_CONFIG.fullmatch(name) is not None


KeyPath = tuple[str | int, ...]


class ConfigError(Exception):
    pass


@frozen
class Located:
    """Where a key's pair and its value stand in the config file."""

    pair: tuple[int, int]
    value: tuple[int, int]


@dataclass
class DurableObjectBinding:
    name: str
    class_name: str
    script_name: str | None
    env: str | None
    path: KeyPath


@dataclass
class Migration:
    tag: str | None
    new_classes: list[str]
    new_sqlite_classes: list[str]
    renamed: list[tuple[str, str]]
    deleted: list[str]
    path: KeyPath


@dataclass
class ClassExport:
    name: str
    storage: str | None
    state: str
    path: KeyPath


@dataclass
class WranglerConfig:
    path: Path
    data: bytes
    format: str  # "toml" | "json"
    values: dict[str, Any]
    spans: dict[KeyPath, Located] = field(default_factory=dict)
    envs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @cached_property
    def root(self) -> Path:
        # one object per config (the path never changes): the scope look-ups key dicts by it,
        # and a new Path per call was hashed and compared on every statement of a project
        return self.path.parent

    @property
    def name(self) -> str | None:
        value = self.values.get("name")
        return value if isinstance(value, str) else None

    @property
    def main(self) -> Path | None:
        value = self.values.get("main")
        return (self.root / value).resolve() if isinstance(value, str) else None

    @property
    def compatibility_date(self) -> str | None:
        value = self.values.get("compatibility_date")
        if isinstance(value, str):
            return value
        if value is not None and hasattr(value, "isoformat"):  # TOML reads a bare date as date
            return str(value.isoformat())
        return None

    @property
    def compatibility_flags(self) -> list[str]:
        value = self.values.get("compatibility_flags")
        return [str(v) for v in value] if isinstance(value, list) else []

    def compat_at_least(self, date: str, flag: str | None = None) -> bool | None:
        """True/False when the config decides it; None when there is no date (unknown)."""
        if flag is not None and flag in self.compatibility_flags:
            return True
        current = self.compatibility_date
        if current is None:
            return None
        return current >= date

    @cached_property
    def bindings(self) -> list[DurableObjectBinding]:
        found: list[DurableObjectBinding] = []
        scopes: list[tuple[str | None, dict[str, Any], KeyPath]] = [(None, self.values, ())]
        scopes += [(name, env, ("env", name)) for name, env in self.envs.items()]
        for env_name, scope, prefix in scopes:
            dobj = scope.get("durable_objects")
            bindings = dobj.get("bindings") if isinstance(dobj, dict) else None
            if not isinstance(bindings, list):
                continue
            for index, item in enumerate(bindings):
                if not isinstance(item, dict):
                    continue
                name, class_name = item.get("name"), item.get("class_name")
                if not isinstance(name, str) or not isinstance(class_name, str):
                    continue
                script = item.get("script_name")
                found.append(
                    DurableObjectBinding(
                        name,
                        class_name,
                        script if isinstance(script, str) else None,
                        env_name,
                        (*prefix, "durable_objects", "bindings", index),
                    )
                )
        return found

    @cached_property
    def migrations(self) -> list[Migration]:
        items = self.values.get("migrations")
        if not isinstance(items, list):
            return []
        found: list[Migration] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            renamed = [
                (str(r.get("from")), str(r.get("to")))
                for r in item.get("renamed_classes") or []
                if isinstance(r, dict)
            ]
            found.append(
                Migration(
                    tag=str(item["tag"]) if "tag" in item else None,
                    new_classes=_strings(item.get("new_classes")),
                    new_sqlite_classes=_strings(item.get("new_sqlite_classes")),
                    renamed=renamed,
                    deleted=_strings(item.get("deleted_classes")),
                    path=("migrations", index),
                )
            )
        return found

    @property
    def class_exports(self) -> list[ClassExport]:
        exports = self.values.get("exports")
        if not isinstance(exports, dict):
            return []
        found: list[ClassExport] = []
        for name, item in exports.items():
            if isinstance(item, dict) and item.get("type") == "durable-object":
                storage = item.get("storage")
                found.append(
                    ClassExport(
                        str(name),
                        storage if isinstance(storage, str) else None,
                        str(item.get("state") or "created"),
                        ("exports", str(name)),
                    )
                )
        return found

    def declared_classes(self) -> set[str]:
        """Classes that migrations or the exports block create and that still exist."""
        live: set[str] = set()
        for migration in self.migrations:
            live.update(migration.new_classes)
            live.update(migration.new_sqlite_classes)
            for old, new in migration.renamed:
                live.discard(old)
                live.add(new)
            live.difference_update(migration.deleted)
        for export in self.class_exports:
            if export.state in {"created", "transferring", "receiving", "incoming"}:
                live.add(export.name)
            elif export.state == "deleted":
                live.discard(export.name)
        return live

    def span(self, path: KeyPath, value: bool = True) -> Span:
        """Span of a key's value (or its whole pair); the closest located ancestor otherwise."""
        for cut in range(len(path), -1, -1):
            located = self.spans.get(path[:cut])
            if located is not None:
                start, end = located.value if value else located.pair
                return Span(self.path, start, end)
        return Span(self.path, 0, 0)


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


@cache
def _json_parser() -> Parser:
    return Parser(Language(tree_sitter_json.language()))


@cache
def _toml_parser() -> Parser:
    import tree_sitter_toml  # (on first use: most projects have no TOML config)

    return Parser(Language(tree_sitter_toml.language()))


def load_config(path: Path, data: bytes | None = None) -> WranglerConfig:
    """Read a wrangler config. Raises ConfigError with a message naming the problem."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 (offset {exc.start})") from None
    key = (path, data)
    loaded = _LOADED.get(key)
    if loaded is not None:
        return loaded
    try:
        loaded = _load(path, data, text)
    except RecursionError:  # the parsers (and span walkers) recurse per nesting level
        raise ConfigError(
            f"nested more than {MAX_CONFIG_DEPTH} levels deep; not a wrangler config we read"
        ) from None
    _LOADED[key] = loaded
    while len(_LOADED) > _LOADED_MAX:
        _LOADED.pop(next(iter(_LOADED)))
    return loaded


# Loaded configs by (path, bytes): the language server builds a model per keystroke, and a
# monorepo's config with hundreds of bindings costs milliseconds to parse. A pure function of
# its key; the config is shared between models, so nothing may change it (nothing does).
_LOADED: dict[tuple[Path, bytes], WranglerConfig] = {}
_LOADED_MAX = 64


# A real wrangler config nests a handful of levels; a deeper one is refused before anything
# recursive (the parsers, json.dumps in the rules) can run out of stack.
MAX_CONFIG_DEPTH = 64


def _depth(values: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(values, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            items: Any = value.values()
        elif isinstance(value, list):
            items = value
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_CONFIG_DEPTH:
            return deepest
        stack.extend((item, depth + 1) for item in items)
    return deepest


def _load(path: Path, data: bytes, text: str) -> WranglerConfig:
    if path.suffix == ".toml":
        import tomllib  # (on first use: ~1.5 ms of every start, most projects have no TOML)

        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}") from None
        if _depth(values) > MAX_CONFIG_DEPTH:
            raise RecursionError
        spans = _toml_spans(data)
        fmt = "toml"
    else:
        values = _jsonc_values(data, text)
        if not isinstance(values, dict):
            raise ConfigError("the top level must be an object")
        if _depth(values) > MAX_CONFIG_DEPTH:
            raise RecursionError
        spans = _json_spans(data)
        fmt = "json"
    envs_raw = values.get("env")
    envs = (
        {str(k): v for k, v in envs_raw.items() if isinstance(v, dict)}
        if isinstance(envs_raw, dict)
        else {}
    )
    return WranglerConfig(path=path, data=data, format=fmt, values=values, spans=spans, envs=envs)


def _jsonc_values(data: bytes, text: str) -> Any:
    """JSONC values. Comments and trailing commas are blanked using tree-sitter's tokens (never
    inside strings), then the standard library parses the rest; json5 (slow, pure Python, ~0.1 s
    for a small config) only runs to explain a file the fast path rejects."""
    if not text.strip():
        return {}
    try:
        # plain JSON (most `wrangler.json` files, and many `.jsonc`): nothing to blank, since a
        # comment or a trailing comma is no JSON; the same values as below without the parse
        # and the walk of every token (~0.3 ms a config)
        return json.loads(text)
    except ValueError:
        pass
    tree = _json_parser().parse(data)
    cleaned = bytearray(data)
    commas: list[int] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            cleaned[node.start_byte : node.end_byte] = b" " * (node.end_byte - node.start_byte)
        elif node.type == "," and not node.is_named:
            commas.append(node.start_byte)
        stack.extend(node.children)
    for pos in commas:
        after = pos + 1
        while after < len(cleaned) and cleaned[after] in b" \t\r\n":
            after += 1
        if after < len(cleaned) and cleaned[after] in b"}]":
            cleaned[pos] = ord(" ")
    try:
        return json.loads(cleaned.decode("utf-8-sig"))
    except ValueError:
        pass
    import json5  # (only here, for what the fast path rejects: ~1.5 ms of every start otherwise)

    try:
        return json5.loads(text)
    except ValueError as exc:
        raise ConfigError(f"invalid JSON: {exc}") from None


# -- spans ---------------------------------------------------------------------------------


def _json_key(data: bytes, node: Node) -> str:
    raw = data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
    return raw[1:-1] if len(raw) >= 2 and raw[0] in "\"'" else raw


def _json_spans(data: bytes) -> dict[KeyPath, Located]:
    tree = _json_parser().parse(data)
    spans: dict[KeyPath, Located] = {}
    root = next((c for c in tree.root_node.named_children if c.type == "object"), None)
    if root is None:
        return spans
    spans[()] = Located((root.start_byte, root.end_byte), (root.start_byte, root.end_byte))

    def visit(node: Node, prefix: KeyPath) -> None:
        if node.type == "object":
            for pair in node.named_children:
                if pair.type != "pair":
                    continue
                key, value = pair.child_by_field_name("key"), pair.child_by_field_name("value")
                if key is None or value is None:
                    continue
                path = (*prefix, _json_key(data, key))
                spans[path] = Located(
                    (pair.start_byte, pair.end_byte), (value.start_byte, value.end_byte)
                )
                visit(value, path)
        elif node.type == "array":
            index = 0
            for item in node.named_children:
                if item.type in {"comment", "ERROR"} or item.is_missing:
                    continue
                path = (*prefix, index)
                spans[path] = Located(
                    (item.start_byte, item.end_byte), (item.start_byte, item.end_byte)
                )
                visit(item, path)
                index += 1

    visit(root, ())
    return spans


def _toml_key_parts(data: bytes, node: Node) -> list[str]:
    if node.type == "dotted_key":
        parts: list[str] = []
        for child in node.named_children:
            parts.extend(_toml_key_parts(data, child))
        return parts
    raw = data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
    if node.type in {"quoted_key", "string"} and len(raw) >= 2:
        raw = raw[1:-1]
    return [raw]


def _toml_spans(data: bytes) -> dict[KeyPath, Located]:
    tree = _toml_parser().parse(data)
    spans: dict[KeyPath, Located] = {(): Located((0, len(data)), (0, len(data)))}
    array_counts: dict[KeyPath, int] = {}

    def visit_value(value: Node, path: KeyPath) -> None:
        if value.type == "inline_table":
            for pair in value.named_children:
                if pair.type == "pair":
                    visit_pair(pair, path)
        elif value.type == "array":
            index = 0
            for item in value.named_children:
                if item.type == "comment":
                    continue
                item_path = (*path, index)
                spans[item_path] = Located(
                    (item.start_byte, item.end_byte), (item.start_byte, item.end_byte)
                )
                visit_value(item, item_path)
                index += 1

    def visit_pair(pair: Node, prefix: KeyPath) -> None:
        # a trailing `# comment` on the line is a child of the pair: not its value
        parts = [c for c in pair.named_children if c.type != "comment"]
        key = parts[0] if parts else None
        value = parts[-1] if len(parts) >= 2 else None
        if key is None or value is None:
            return
        path = (*prefix, *_toml_key_parts(data, key))
        spans[path] = Located((pair.start_byte, pair.end_byte), (value.start_byte, value.end_byte))
        visit_value(value, path)

    for node in tree.root_node.named_children:
        if node.type == "pair":
            visit_pair(node, ())
        elif node.type in {"table", "table_array_element"}:
            header = next(
                (
                    c
                    for c in node.named_children
                    if c.type in {"bare_key", "dotted_key", "quoted_key"}
                ),
                None,
            )
            if header is None:
                continue
            prefix: KeyPath = tuple(_toml_key_parts(data, header))
            if node.type == "table_array_element":
                index = array_counts.get(prefix, 0)
                # an inline array before the [[tables]] counts too
                array_counts[prefix] = index + 1
                spans.setdefault(
                    prefix,
                    Located((node.start_byte, node.end_byte), (node.start_byte, node.end_byte)),
                )
                prefix = (*prefix, index)
            spans[prefix] = Located(
                (node.start_byte, node.end_byte), (node.start_byte, node.end_byte)
            )
            for pair in node.named_children:
                if pair.type == "pair":
                    visit_pair(pair, prefix)
    return spans
