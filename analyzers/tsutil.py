"""Small helpers over tree-sitter TypeScript nodes."""

from __future__ import annotations

import bisect
import operator
import re
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from tree_sitter import Language, Node, Query, QueryCursor, TreeCursor

from durable_harden.analyzers.budget import charge


class ParsedFile(Protocol):
    """What `walk_type(..., file=)` reads of a parsed file (`source.SourceFile`, which this
    module cannot import: source imports it): the memo holding its tree's index."""

    memo: dict[str, Any]


_SPACE = re.compile(r"\s+")

FUNCTION_TYPES = frozenset(
    {
        "function_declaration",
        "function_expression",
        "arrow_function",
        "method_definition",
        "generator_function_declaration",
        "generator_function",
    }
)


def node_text(data: bytes, node: Node) -> str:
    return data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def normalize_expr(text: str) -> str:
    """`this .ctx!.storage?.sql` -> `this.ctx.storage.sql`: one spelling for alias matching."""
    text = _SPACE.sub("", text)
    text = text.replace("?.", ".").replace("!.", ".")
    text = text.rstrip("!")
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return text


def walk(node: Node) -> Iterator[Node]:
    """Pre-order walk of named and anonymous nodes."""
    cursor = node.walk()
    reached_root = False
    while not reached_root:
        yield cursor.node  # type: ignore[misc]
        if cursor.goto_first_child():
            continue
        if cursor.goto_next_sibling():
            continue
        while True:
            if not cursor.goto_parent():
                reached_root = True
                break
            if cursor.node == node:
                reached_root = True
                break
            if cursor.goto_next_sibling():
                break


# One pre-order walk per tree gives every node by type; later look-ups are range filters.
# A tree parsed through analyzers.source registers its index holder here; the SourceFile keeps
# the holder alive (in its memo), so the index lives exactly as long as the parsed file, however
# many files a long-lived language server keeps. Trees parsed elsewhere use a small LRU.
_INDEX_LIMIT = 256
_REGIONS_KEPT = 8
_indexes: OrderedDict[tuple[int, int, int], TypeIndex] = OrderedDict()
_registered: weakref.WeakValueDictionary[tuple[int, int, int], TypeIndex] = (
    weakref.WeakValueDictionary()
)
# its weak references by key, read directly: `get` and `in` of the mapping are Python code, and
# walk_type asks several times per walk below a file's root (~10,000 a check of 1,000 files)
_registered_refs: dict[tuple[int, int, int], Callable[[], TypeIndex | None]] = _registered.data  # type: ignore[attr-defined]


def _holder(key: tuple[int, int, int]) -> TypeIndex | None:
    """The registered index of the tree whose root has `key`, or None."""
    ref = _registered_refs.get(key)
    return ref() if ref is not None else None


class TypeIndex:
    """Every node of one tree by type, built on first use.

    With the tree's language known (a file parsed through analyzers.source), the nodes of a type
    are collected by a tree-sitter query run in C: one query for every type the analysis is
    known to ask for (`COMMON_TYPES`) on first use, and one more per other type asked. Without
    it, one pre-order walk in Python collects every node. Both give the nodes in pre-order,
    named and anonymous nodes of the type alike (`tests/test_speed_identity.py` compares them).
    """

    def __init__(self, root: Node, path: Path | None = None, language: Language | None = None):
        self.root = root
        self.path = path  # the file, for the analysis budget (analyzers.budget)
        self.language = language
        self._by_type: dict[str, list[Node]] | None = None
        self._complete = False  # _by_type holds every type (the Python walk)
        # (start, end, nodes by type) of parts of the tree queried alone (`within`)
        self._regions: list[tuple[int, int, dict[str, list[Node]]]] | None = None
        self._region_bytes = 0
        # the whole tree's nodes of several types merged in pre-order, by the types asked
        self._merged: dict[tuple[str, ...], list[Node]] = {}

    @property
    def by_type(self) -> dict[str, list[Node]]:
        """Every node by type (the whole tree walked in Python)."""
        if not self._complete:
            index: dict[str, list[Node]] = {}
            for child in walk(self.root):
                index.setdefault(child.type, []).append(child)
            self._by_type = index
            self._complete = True
        assert self._by_type is not None
        return self._by_type

    def within(self, node: Node, kind: str) -> list[Node] | None:
        """The nodes of one type in pre-order, at least every one inside `node` (possibly more).

        A small part of a tree whose index is not built yet is queried on its own (tree-sitter
        query restricted to its byte range): a re-parsed file's edited member is read without
        indexing the whole new tree (docs/performance.md, "Issue 14: the model below the
        file"). A region's result is kept for later walks inside it; once the regions queried
        add up to the tree's size, or a big node is asked for, the whole tree is indexed."""
        if self._by_type is not None or self.language is None:
            return self.nodes(kind)  # the tree is indexed: one more type for the whole tree
        start, end = node.start_byte, node.end_byte
        root = self.root
        size = root.end_byte - root.start_byte
        if (end - start) * 4 > size or self._region_bytes > size:
            return self.nodes(kind)
        regions = self._regions
        if regions is None:
            regions = self._regions = []
        for region in regions:
            if region[0] <= start and end <= region[1]:
                by_type = region[2]
                if kind not in by_type:
                    by_type.update(self._query_region(region[0], region[1], frozenset({kind})))
                return by_type.get(kind)
        wanted = COMMON_TYPES if kind in COMMON_TYPES else COMMON_TYPES | {kind}
        by_type = self._query_region(start, end, wanted)
        regions.insert(0, (start, end, by_type))
        del regions[_REGIONS_KEPT:]
        self._region_bytes += end - start
        return by_type.get(kind)

    def _query_region(self, start: int, end: int, kinds: frozenset[str]) -> dict[str, list[Node]]:
        assert self.language is not None
        # one byte wider on each side: a zero-width node at an edge (a MISSING token) is
        # captured as in the whole-tree query, then the range filter below keeps descendants
        found = _query_types(self.root, self.language, kinds, (max(0, start - 1), end + 1))
        return {
            kind: [n for n in nodes if start <= n.start_byte and n.end_byte <= end]
            for kind, nodes in found.items()
        }

    def nodes(self, kind: str) -> list[Node] | None:
        """The nodes of one type, in pre-order (None or empty when there are none)."""
        index = self._by_type
        if index is not None and (self._complete or kind in index):
            return index.get(kind)
        if self.language is None:
            return self.by_type.get(kind)
        if index is None:
            index = self._by_type = {}
            wanted = COMMON_TYPES if kind in COMMON_TYPES else COMMON_TYPES | {kind}
        else:
            wanted = frozenset({kind})
        index.update(_query_types(self.root, self.language, wanted))
        return index.get(kind)


# The node types the model and the rules ask `walk_type` for in most files that are indexed at
# all (collected on first use of a tree in one query); a type missing here still works, with a
# query of its own on first use. Left out: types with many nodes that few files are asked for
# (identifier, member_expression, string, comment … ~60% of the captures on corpus-dev, asked
# in under 3% of the indexed files): each node captured costs ~0.7 µs in Python (the node
# object, the sort), a query of its own ~0.1 µs per node of the tree (docs/performance.md,
# "Issue 14: the per-file model, cheaper").
#
# Also left out since session 7 (docs/performance.md, "Issue 14: the cold model"): the import
# items, read from the import clauses and never asked (~5% of the captures). Binary expressions
# and required parameters stay: asked by the walks of files with a syntax error (corpus-dev),
# a query of their own there cost more than capturing them everywhere saves.
COMMON_TYPES = frozenset(
    {
        *FUNCTION_TYPES,
        "abstract_class_declaration",
        "assignment_expression",
        "await_expression",
        "binary_expression",
        "call_expression",
        "catch_clause",
        "class",
        "class_declaration",
        "for_in_statement",
        "if_statement",
        "new_expression",
        "optional_parameter",
        "public_field_definition",
        "required_parameter",
        "return_statement",
        "statement_block",
        "template_string",
        "ternary_expression",
        "variable_declarator",
    }
)

_queries: dict[tuple[int, frozenset[str]], tuple[Query, dict[str, str]]] = {}


def _query_for(language: Language, kinds: frozenset[str]) -> tuple[Query, dict[str, str]]:
    """A query capturing every node of the given types (named and anonymous), one capture
    name per type, and the map capture name -> type."""
    key = (id(language), kinds)
    found = _queries.get(key)
    if found is None:
        patterns: list[str] = []
        names: dict[str, str] = {}
        for number, kind in enumerate(sorted(kinds)):
            name = f"t{number}"
            names[name] = kind
            quoted = '"' + kind.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if language.id_for_node_kind(kind, True) is not None:
                patterns.append(f"({kind}) @{name}")
            if language.id_for_node_kind(kind, False) is not None:
                patterns.append(f"{quoted} @{name}")
        found = (Query(language, "\n".join(patterns) or "(ERROR) @none"), names)
        _queries[key] = found
    return found


def _query_types(
    root: Node,
    language: Language,
    kinds: frozenset[str],
    byte_range: tuple[int, int] | None = None,
) -> dict[str, list[Node]]:
    query, names = _query_for(language, kinds)
    cursor = QueryCursor(query)
    if byte_range is not None:
        cursor.set_byte_range(*byte_range)
    captured = cursor.captures(root)
    result: dict[str, list[Node]] = {kind: [] for kind in kinds}
    for name, nodes in captured.items():
        kind = names.get(name)
        if kind is None:
            continue
        # document order, an ancestor before its descendants (pre-order), as the walk gives
        nodes.sort(key=_pre_order)
        result[kind] = nodes
    return result


def _pre_order(node: Node) -> tuple[int, int]:
    return (node.start_byte, -node.end_byte)


def _key(root: Node) -> tuple[int, int, int]:
    return (root.id, root.end_byte, root.descendant_count)


def register_tree(
    root: Node, path: Path | None = None, language: Language | None = None
) -> TypeIndex:
    """Index holder for a tree whose owner keeps the returned object alive."""
    holder = TypeIndex(root, path, language)
    _registered[_key(root)] = holder
    return holder


# Roots of the trees looked up last, most recent first. `node.parent` costs a walk down from the
# root in tree-sitter (O(depth)), so climbing to the root is O(depth²) per call: 3,000 nested
# blocks took minutes. A node is found in a recent tree by one descent instead (O(depth)).
_RECENT_LIMIT = 4
_recent_roots: list[Node] = []


def _in_tree(root: Node, node: Node) -> bool:
    start, end = node.start_byte, node.end_byte
    if start < root.start_byte or end > root.end_byte:
        return False
    if node == root:
        return True
    found = root.descendant_for_byte_range(start, end)
    # the deepest node over the range: climb while the range is the same (a few steps)
    while found is not None and found.start_byte == start and found.end_byte == end:
        if found == node:
            return True
        found = found.parent
    return False


# The root last found for a node (by the node's key), as the root's key: a guess checked by one
# descent (`_in_tree`), never trusted (an old tree and its re-parse share subtrees, so a key is
# no identity), and holding no tree alive (the root is looked up among the registered trees).
# The rules walk the same class node once per rule, one file after another: the recent roots
# missed on every file change (four failed descents, then a climb to the root).
_ROOT_HINTS_LIMIT = 8192
_SHORT_CLIMB = 6
_root_hints: dict[tuple[int, int, int], tuple[int, int, int]] = {}


def _root_of(node: Node) -> Node:
    node_key = _key(node)
    hinted = _root_hints.get(node_key)
    if hinted is not None:
        holder = _holder(hinted)
        if holder is not None and _in_tree(holder.root, node):
            return holder.root
    # Most nodes asked about lie a few levels below the root (classes, methods, functions): a
    # short climb finds it cheaper than a failed descent into each recent tree (~6,000 of them
    # a check of 1,000 files, whose files' nodes share offsets and shapes)
    current = node
    for _ in range(_SHORT_CLIMB):
        parent = current.parent
        if parent is None:
            _hint(node_key, current)
            return current
        current = parent
    recent = list(_recent_roots)  # the language server's threads share the list
    for root in recent:
        if _in_tree(root, node):
            if root is not recent[0]:
                _remember_root(root)
            _hint(node_key, root)
            return root
    while True:
        parent = node.parent
        if parent is None:
            _remember_root(node)
            _hint(node_key, node)
            return node
        node = parent


def _hint(node_key: tuple[int, int, int], root: Node) -> None:
    root_key = _key(root)
    if _holder(root_key) is None:
        return  # a tree nobody registered: no way to find it again without holding it
    if len(_root_hints) >= _ROOT_HINTS_LIMIT:
        _root_hints.clear()
    _root_hints[node_key] = root_key


def _remember_root(root: Node) -> None:
    kept = [r for r in _recent_roots if r != root]
    _recent_roots[:] = [root, *kept][:_RECENT_LIMIT]


def _type_index(root: Node) -> TypeIndex:
    key = _key(root)
    holder = _holder(key)
    if holder is not None:
        charge(holder.path)
        return holder
    index = _indexes.get(key)
    if index is not None:
        _indexes.move_to_end(key)
        return index
    index = TypeIndex(root)
    _indexes[key] = index
    if len(_indexes) > _INDEX_LIMIT:
        _indexes.popitem(last=False)
    return index


_start_of = operator.attrgetter("start_byte")
# set by tests: walk_type checks that a node handed with its `file` is in that file's tree
_CHECK_FILE = False


def walk_type(node: Node, *types: str, file: ParsedFile | None = None) -> Iterator[Node]:
    """Descendants of `node` (itself included) of the given types, in pre-order.

    Computed at the call (an iterator over a list, not a generator resumed per node): a walk
    from a file's root hands out the index's list of a type as it is, a walk of one type needs
    no sort.

    `file`, when given, is the parsed file whose tree holds `node` (the caller's word, not
    checked): its index is used without looking for the node's tree (`_root_of`: a climb or a
    descent per new Node object, ~3,800 walks below a root a check of 1,000 files)."""
    if file is not None:
        index: TypeIndex = file.memo["type_index"]
        if _CHECK_FILE and _root_of(node) != index.root:
            raise AssertionError(f"walk_type: a node outside {index.path} named its file")
        charge(index.path)
        return _walk_index(index, node, types)
    holder = _holder(_key(node))  # most walks start at a file's root: no climb
    if holder is not None:
        charge(holder.path)
        index = holder
        if not _recent_roots or _recent_roots[0] is not node:
            # the walks below a node of this file that follow find its root first (`_root_of`:
            # one descent, no climb; ~2,600 a check of 1,000 files)
            _remember_root(node)
    else:
        index = _type_index(_root_of(node))
    return _walk_index(index, node, types)


def _walk_index(index: TypeIndex, node: Node, types: tuple[str, ...]) -> Iterator[Node]:
    start, end = node.start_byte, node.end_byte
    root = index.root
    whole = start == root.start_byte and end == root.end_byte
    if whole and len(types) > 1:
        # the same few type sets are asked of every file (calls and tagged templates, class
        # declarations, parameters …): merged and sorted once per tree
        merged = index._merged.get(types)
        if merged is None:
            merged = index._merged[types] = _whole(index, types)
        return iter(merged)
    parts: list[list[Node]] = []
    for kind in set(types) if len(types) > 1 else types:
        by_type = index._by_type
        nodes: list[Node] | None
        if by_type is not None and kind in by_type:  # indexed already (most walks)
            nodes = by_type[kind]
        else:
            nodes = index.nodes(kind) if whole else index.within(node, kind)
        if not nodes:
            continue
        if whole:
            last = nodes[-1]
            if last.start_byte == end and last.end_byte == end and end > start:
                # a zero-width node at the very end is not inside (as below)
                nodes = [n for n in nodes if not (n.start_byte == end and n.end_byte == end)]
            parts.append(nodes)
            continue
        # the nodes starting inside the range (a slice of them only), then those ending in it.
        # A node starting strictly inside `node` ends inside it (a tree's nodes nest): only
        # those starting at either end are looked at (the node itself, its ancestors and
        # descendants at its start; a node after it, or a zero-width one, at its end)
        first = bisect.bisect_left(nodes, start, key=_start_of)
        inner = bisect.bisect_right(nodes, start, key=_start_of, lo=first)
        outer = bisect.bisect_left(nodes, end, key=_start_of, lo=inner)
        stop = bisect.bisect_right(nodes, end, key=_start_of, lo=outer)
        selected = [
            candidate
            for candidate in nodes[first:inner]
            if candidate.end_byte <= end
            and not (candidate.start_byte == end and candidate.end_byte == end and end > start)
        ]
        if inner < outer:
            selected += nodes[inner:outer]
        if outer < stop:
            selected += [
                candidate
                for candidate in nodes[outer:stop]
                if candidate.end_byte <= end
                and not (candidate.start_byte == end and candidate.end_byte == end and end > start)
            ]
        if selected:
            parts.append(selected)
    if not parts:
        return iter(())
    if len(parts) == 1:
        return iter(parts[0])
    merged = [n for part in parts for n in part]
    merged.sort(key=_pre_order)
    return iter(merged)


def import_items(stmt: Node) -> list[Node]:
    """The `import_specifier` and `namespace_import` nodes of an import statement, in pre-order
    (what `walk_type(stmt, "import_specifier", "namespace_import")` gives): read from the
    statement's import clause, where the grammar puts them, without a walk (nor a query of the
    file's index: every file's imports are read). A statement with a syntax error is walked."""
    if stmt.has_error:
        return list(walk_type(stmt, "import_specifier", "namespace_import"))
    items: list[Node] = []
    for clause in stmt.named_children:
        if clause.type != "import_clause":
            continue
        for child in clause.named_children:
            kind = child.type
            if kind == "namespace_import":
                items.append(child)
            elif kind == "named_imports":
                items.extend(c for c in child.named_children if c.type == "import_specifier")
    return items


def node_at(cursor: TreeCursor, root: Node, at: int, up: int) -> list[Node]:
    """The deepest node below `root` reached by descending to byte `at` (the first child
    ending after it, at each level, `TreeCursor.goto_first_child_for_byte`) and its next `up`
    ancestors, nearest first; the nodes in between are never made: what a word found in a
    file's bytes lies in, without a walk or an index of the tree. The deepest node contains
    `at` when it starts at or before it."""
    cursor.reset(root)
    depth = 0
    while cursor.goto_first_child_for_byte(at) is not None:
        depth += 1
    if not depth:
        return []
    node = cursor.node
    assert node is not None
    found = [node]
    for _ in range(min(up, depth - 1)):
        cursor.goto_parent()
        node = cursor.node
        assert node is not None
        found.append(node)
    return found


_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")


def word_hits(
    data: bytes,
    words: tuple[bytes, ...],
    start: int,
    end: int,
    limit: int,
    keep: Callable[[int, int], bool] | None = None,
) -> list[int] | None:
    """The offsets of every occurrence of each word in data[start:end] as a whole word (no
    ASCII identifier character right before or after it: an identifier spelling it inside a
    longer name is another token), ascending; None when there are more than `limit`.
    keep(offset, end of the word): a further check of each occurrence."""
    hits: list[int] = []
    size = len(data)
    for word in words:
        at = data.find(word, start, end)
        while at >= 0:
            after = at + len(word)
            if (
                (at == 0 or data[at - 1] not in _WORD_BYTES)
                and (after >= size or data[after] not in _WORD_BYTES)
                and (keep is None or keep(at, after))
            ):
                hits.append(at)
                if len(hits) > limit:
                    return None
            at = data.find(word, at + 1, end)
    hits.sort()
    return hits


def _whole(index: TypeIndex, types: tuple[str, ...]) -> list[Node]:
    """The whole tree's nodes of the given types, in pre-order (walk_type from the root)."""
    root = index.root
    end = root.end_byte
    parts: list[list[Node]] = []
    for kind in set(types):
        by_type = index._by_type
        nodes = by_type[kind] if by_type is not None and kind in by_type else index.nodes(kind)
        if not nodes:
            continue
        last = nodes[-1]
        if last.start_byte == end and last.end_byte == end and end > root.start_byte:
            # a zero-width node at the very end is not inside (as in walk_type)
            nodes = [n for n in nodes if not (n.start_byte == end and n.end_byte == end)]
        parts.append(nodes)
    if len(parts) == 1:
        return list(parts[0])
    merged = [n for part in parts for n in part]
    merged.sort(key=_pre_order)
    return merged


def ancestors(node: Node) -> list[Node]:
    """The nodes above `node`, nearest first, found by one descent from the root (walking up
    with `.parent` costs O(depth) per step in tree-sitter, O(depth²) in all)."""
    root = _root_of(node)
    path: list[Node] = []
    current: Node | None = root
    while current is not None and current != node:
        path.append(current)
        current = current.child_with_descendant(node)
    if current is None:  # not found by descent (zero-width nodes …): climb instead
        path = []
        parent = node.parent
        while parent is not None:
            path.append(parent)
            parent = parent.parent
        return path
    path.reverse()
    return path


def enclosing(node: Node, *types: str) -> Node | None:
    wanted = set(types)
    parent = node.parent
    # the first steps are cheap enough near the top; deep nodes descend from the root once
    for _ in range(8):
        if parent is None:
            return None
        if parent.type in wanted:
            return parent
        parent = parent.parent
    return next((n for n in ancestors(node) if n.type in wanted), None)


def enclosing_function(node: Node) -> Node | None:
    return enclosing(node, *FUNCTION_TYPES)


def method_name(data: bytes, method: Node) -> str | None:
    name = method.child_by_field_name("name")
    return node_text(data, name) if name is not None else None


def call_args(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    if args is None or args.type != "arguments":
        return []
    return [child for child in args.named_children if child.type != "comment"]


def callee_parts(data: bytes, call: Node) -> tuple[str, str] | None:
    """For `a.b.c(...)`, ("a.b", "c"); for `f(...)`, ("", "f")."""
    func = call.child_by_field_name("function")
    if func is None:
        return None
    if func.type == "member_expression":
        obj = func.child_by_field_name("object")
        prop = func.child_by_field_name("property")
        if obj is None or prop is None:
            return None
        return normalize_expr(node_text(data, obj)), node_text(data, prop)
    if func.type == "identifier":
        return "", node_text(data, func)
    return None


def string_value(data: bytes, node: Node) -> str | None:
    """The value of a plain string literal (quotes and simple escapes handled)."""
    if node.type != "string":
        return None
    text, _ = literal_chars(data, node)
    return text


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f", "v": "\v"}


def _unescape(seq: str) -> str:
    body = seq[1:]
    if body in _ESCAPES:
        return _ESCAPES[body]
    if body.startswith("u{") and body.endswith("}"):
        try:
            return chr(int(body[2:-1], 16))
        except (ValueError, OverflowError):  # beyond U+10FFFF: a syntax error in JavaScript
            return "\ufffd"
    if body.startswith(("u", "x")) and len(body) > 1:
        try:
            return chr(int(body[1:], 16))
        except ValueError:
            return body
    if body.startswith(("\n", "\r")):
        return ""  # line continuation
    return body


def literal_chars(data: bytes, node: Node) -> tuple[str, list[int]]:
    """Text of a string or template literal, and for each character its byte offset in `data`.

    Template substitutions become a single `?` mapped to the substitution's start; the returned
    offsets list has one extra entry: the end offset of the literal's content.
    """
    # the text in pieces (a fragment's text whole, not one string per character), never an
    # empty one: the last piece's last character is the text's last
    pieces: list[str] = []
    offsets: list[int] = []
    escaped = False
    for child in node.children:
        kind = child.type
        if kind == "string_fragment":
            pos = child.start_byte
            raw = data[pos : child.end_byte]
            if not raw:
                continue
            if raw.isascii():  # one byte per character (most SQL): no per-character loop
                pieces.append(raw.decode("ascii"))
                offsets.extend(range(pos, pos + len(raw)))
                continue
            text = node_text(data, child)
            pieces.append(text)
            for ch in text:
                offsets.append(pos)
                pos += len(ch.encode("utf-8"))
        elif kind == "escape_sequence":
            escaped = True
            for ch in _unescape(node_text(data, child)):
                if "\udc00" <= ch <= "\udfff" and pieces and "\ud800" <= pieces[-1][-1] <= "\udbff":
                    # `\ud83d\ude00`: two escapes spell one character (a UTF-16 pair)
                    last = pieces[-1]
                    pieces[-1] = last[:-1] + chr(
                        0x10000 + ((ord(last[-1]) - 0xD800) << 10) + ord(ch) - 0xDC00
                    )
                    continue
                pieces.append(ch)
                offsets.append(child.start_byte)
        elif kind == "template_substitution":
            pieces.append("?")
            offsets.append(child.start_byte)
    content_end = node.end_byte - 1 if node.end_byte > node.start_byte else node.end_byte
    offsets.append(content_end)
    text = "".join(pieces)
    if escaped:
        # a lone surrogate (`\ud800` alone) has no UTF-8 form: analysed as U+FFFD (only an
        # escape spells one: the file's bytes are valid UTF-8, decoded with replacement)
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text, offsets


def is_tagged_sql_template(data: bytes, node: Node) -> tuple[Node, Node] | None:
    """Recognise `this.sql\\`...\\`` and `this.sql<Row>\\`...\\`` (Agents SDK), returning
    (tag expression, template_string).

    tree-sitter-typescript reads `x.sql<Row>\\`…\\`` as `(x.sql < Row) > \\`…\\``: accept that shape.
    """
    if node.type == "call_expression":
        args = node.child_by_field_name("arguments")
        if args is None or args.type != "template_string":
            return None  # most calls: no field lookup more
        func = node.child_by_field_name("function")
        # `this.sql<{ id: string }>\`…\`` recovers as non_null(instantiation(this.sql)) + template
        while func is not None and func.type in {"non_null_expression", "instantiation_expression"}:
            func = func.named_children[0] if func.named_children else None
        if func is not None and _is_sql_tag(data, func):
            return func, args
        return None
    if node.type == "binary_expression":
        right = node.child_by_field_name("right")
        if right is None or right.type != "template_string":
            return None
        op = node.child_by_field_name("operator")
        left = node.child_by_field_name("left")
        if (
            op is not None
            and node_text(data, op) == ">"
            and left is not None
            and right is not None
            and right.type == "template_string"
            and left.type == "binary_expression"
        ):
            inner_op = left.child_by_field_name("operator")
            tag = left.child_by_field_name("left")
            if inner_op is not None and node_text(data, inner_op) == "<" and tag is not None:
                if _is_sql_tag(data, tag):
                    return tag, right
    return None


def _is_sql_tag(data: bytes, func: Node) -> bool:
    text = normalize_expr(node_text(data, func))
    return text == "this.sql"


def contains(outer: Node, inner: Node) -> bool:
    return outer.start_byte <= inner.start_byte and inner.end_byte <= outer.end_byte
