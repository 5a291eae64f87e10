"""Edits to wrangler configs that keep the file's own format: every byte outside the inserted
text stays as it was (comments, indentation, trailing commas, key order).

Works from `WranglerConfig.spans` (byte spans from tree-sitter's JSON/TOML grammars): an item is
appended after the last item of an array (or the last pair of an object) in the style of that
item — one line or several, the same indentation, a trailing comma kept when the file uses them,
a comment after the last item left on its line. TOML arrays of tables get a new `[[table]]`
after the last one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from durable_harden.analyzers.wrangler import KeyPath, WranglerConfig
from durable_harden.codeactions._style import Style
from durable_harden.codeactions.fix import Edit

# -- JSONC ------------------------------------------------------------------------------------


def _skip_trivia(data: bytes, pos: int) -> int:
    """First byte at or after pos that is not whitespace or a // or /* */ comment."""
    size = len(data)
    while pos < size:
        ch = data[pos : pos + 1]
        if ch in b" \t\r\n":
            pos += 1
        elif data.startswith(b"//", pos):
            end = data.find(b"\n", pos)
            pos = size if end == -1 else end
        elif data.startswith(b"/*", pos):
            end = data.find(b"*/", pos + 2)
            pos = size if end == -1 else end + 2
        else:
            break
    return pos


def _line_start(data: bytes, pos: int) -> int:
    return data.rfind(b"\n", 0, pos) + 1


def _line_end(data: bytes, pos: int) -> int:
    end = data.find(b"\n", pos)
    return len(data) if end == -1 else end


def _indent_at(data: bytes, pos: int) -> str:
    start = _line_start(data, pos)
    line = data[start:pos]
    match = re.match(rb"[ \t]*", line)
    return (match.group(0) if match else b"").decode()


def _indent_unit(data: bytes) -> str:
    """The file's own indentation step (`Style.indent`)."""
    return Style.of(data).indent


def json_inline(value: Any, spaced: bool = True) -> str:
    """`{ "tag": "v2", "new_sqlite_classes": ["X"] }` — one line, in the usual wrangler style."""
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}: {json_inline(v, spaced)}" for k, v in value.items())
        return f"{{ {inner} }}" if spaced and inner else f"{{{inner}}}"
    if isinstance(value, list):
        return "[" + ", ".join(json_inline(v, spaced) for v in value) + "]"
    return json.dumps(value)


def _json_block(value: dict[str, Any], indent: str, inner: str, spaced: bool) -> str:
    lines = [f"{inner}{json.dumps(k)}: {json_inline(v, spaced)}" for k, v in value.items()]
    return "{\n" + ",\n".join(lines) + "\n" + indent + "}"


def _render_like(data: bytes, sample: tuple[int, int] | None, value: Any, indent: str) -> str:
    """Render value shaped like the sample item (multi-line object or one line)."""
    text = data[sample[0] : sample[1]] if sample is not None else b""
    spaced = not text.startswith(b"{") or text.startswith((b"{ ", b"{\n")) or not text
    if isinstance(value, dict) and b"\n" in text:
        first_key = _skip_trivia(data, sample[0] + 1) if sample is not None else 0
        inner = _indent_at(data, first_key) if sample is not None else indent + "  "
        return _json_block(value, indent, inner, spaced)
    return json_inline(value, spaced)


def _newline(data: bytes) -> str:
    return Style.of(data).newline


def _append_after(
    config: WranglerConfig,
    container: tuple[int, int],
    last: tuple[int, int] | None,
    rendered_item: str,
    item_indent: str | None = None,
) -> list[Edit]:
    """Insert rendered_item after `last` (an item or pair) in the container `[...]`/`{...}`."""
    data = config.data
    path = config.path
    nl = _newline(data)
    rendered_item = re.sub(r"(?<!\r)\n", nl, rendered_item)
    close = container[1] - 1  # the `]` or `}`
    if last is None:
        inner = data[container[0] + 1 : close]
        if b"\n" not in inner:
            # `[]` or `{ }`: fill it on one line
            return [Edit(path, container[0] + 1, close, rendered_item)]
        indent = item_indent or _indent_at(data, close) + _indent_unit(data)
        line_start = _line_start(data, close)
        if data[line_start:close].strip():
            return [Edit(path, close, close, f"{nl}{indent}{rendered_item}{nl}")]
        return [Edit(path, line_start, line_start, f"{indent}{rendered_item}{nl}")]
    after = _skip_trivia(data, last[1])
    trailing_comma = data[after : after + 1] == b","
    comma_end = after + 1 if trailing_comma else last[1]
    if b"\n" not in data[last[1] : close]:
        # `[{ … }]` on one line: keep it one line
        if trailing_comma:
            return [Edit(path, comma_end, comma_end, f" {rendered_item},")]
        return [Edit(path, last[1], last[1], f", {rendered_item}")]
    indent = item_indent if item_indent is not None else _indent_at(data, last[0])
    # whitespace or a `// comment` after the last item stays on its line
    line_end = _line_end(data, comma_end)
    if line_end > comma_end and data[line_end - 1 : line_end] == b"\r":
        line_end -= 1
    rest = data[comma_end:line_end]
    insert_at = line_end if re.fullmatch(rb"[ \t]*(//.*)?", rest) else comma_end
    if trailing_comma:
        return [Edit(path, insert_at, insert_at, f"{nl}{indent}{rendered_item},")]
    return [
        Edit(path, last[1], last[1], ","),
        Edit(path, insert_at, insert_at, f"{nl}{indent}{rendered_item}"),
    ]


def _items(config: WranglerConfig, path: KeyPath) -> list[tuple[int, int]]:
    items: list[tuple[int, int]] = []
    index = 0
    while (*path, index) in config.spans:
        items.append(config.spans[(*path, index)].pair)
        index += 1
    return items


def _pairs(config: WranglerConfig, path: KeyPath) -> list[tuple[int, int]]:
    return sorted(
        located.pair
        for key, located in config.spans.items()
        if len(key) == len(path) + 1 and key[: len(path)] == path and isinstance(key[-1], str)
    )


def json_append_item(config: WranglerConfig, path: KeyPath, value: Any) -> list[Edit]:
    """Append value to the array at path (JSON/JSONC)."""
    located = config.spans.get(path)
    if located is None:
        raise KeyError(path)
    items = _items(config, path)
    last = items[-1] if items else None
    indent = (
        _indent_at(config.data, last[0])
        if last
        else _indent_at(config.data, located.pair[0]) + _indent_unit(config.data)
    )
    rendered = _render_like(config.data, last, value, indent)
    return _append_after(config, located.value, last, rendered)


def json_add_pair(config: WranglerConfig, path: KeyPath, key: str, value: Any) -> list[Edit]:
    """Add `"key": value` as the last pair of the object at path (JSON/JSONC)."""
    located = config.spans.get(path)
    if located is None:
        raise KeyError(path)
    pairs = _pairs(config, path)
    last = pairs[-1] if pairs else None
    data = config.data
    indent = (
        _indent_at(data, last[0])
        if last
        else _indent_at(data, located.pair[0]) + _indent_unit(data)
    )
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        unit = _indent_unit(data)
        items = ",\n".join(f"{indent}{unit}{json_inline(v)}" for v in value)
        rendered_value = f"[\n{items}\n{indent}]"
    else:
        rendered_value = json_inline(value)
    rendered = f"{json.dumps(key)}: {rendered_value}"
    return _append_after(config, located.value, last, rendered, indent)


# -- TOML -------------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string uses the same escapes
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def toml_key(path: KeyPath) -> str:
    return ".".join(
        str(p) if re.fullmatch(r"[A-Za-z0-9_-]+", str(p)) else json.dumps(str(p)) for p in path
    )


def toml_append_table(config: WranglerConfig, path: KeyPath, value: dict[str, Any]) -> list[Edit]:
    """Append `[[path]]` with value's keys after the last `[[path]]` table (at the end of the
    file when there is none); an inline `key = [ … ]` array gets an inline table instead."""
    data = config.data
    items = _items(config, path)
    located = config.spans.get(path)
    if located is not None and located.pair != located.value:
        # `migrations = [ { … } ]`: an inline array
        last = items[-1] if items else None
        return _append_after(config, located.value, last, toml_value(value))
    nl = _newline(data)
    lines = [f"[[{toml_key(path)}]]"] + [f"{k} = {toml_value(v)}" for k, v in value.items()]
    if items:
        last_index = (*path, len(items) - 1)
        pairs = _pairs(config, last_index)
        end = pairs[-1][1] if pairs else items[-1][0]
        # right after the last key of the last table: comments and blank lines that follow
        # it usually introduce the next table, so they stay below the new one
        insert_at = _line_end(data, end)
        # before the `\r` of a CRLF line ending (tree-sitter-toml counts it in the pair's span,
        # so it may sit just before `end` as well as after it)
        if data[insert_at - 1 : insert_at] == b"\r":
            insert_at -= 1
        return [Edit(config.path, insert_at, insert_at, nl + nl + nl.join(lines))]
    return _append_at_end(config, nl.join(lines) + nl)


def toml_add_table(config: WranglerConfig, path: KeyPath, value: dict[str, Any]) -> list[Edit]:
    """Append a `[path]` table with value's keys at the end of the file."""
    body = "".join(f"{k} = {toml_value(v)}\n" for k, v in value.items())
    return _append_at_end(config, f"[{toml_key(path)}]\n{body}")


def _append_at_end(config: WranglerConfig, text: str) -> list[Edit]:
    data = config.data
    nl = _newline(data)
    text = re.sub(r"(?<!\r)\n", nl, text)
    end = len(data)
    if not data:
        return [Edit(config.path, 0, 0, text)]
    if data.endswith((b"\n\n", b"\r\n\r\n")):
        return [Edit(config.path, end, end, text)]
    if data.endswith(b"\n"):
        return [Edit(config.path, end, end, nl + text)]
    return [Edit(config.path, end, end, nl + nl + text.rstrip("\r\n"))]
