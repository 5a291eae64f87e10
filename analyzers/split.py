"""Groups of files a cold `check` can analyse apart (issue 14: the check split by project).

A group is one or more Worker projects (a wrangler config's folder) and, possibly, the loose
files (those under no config). Each group is meant to be parsed, modelled and checked alone, in
its own process, with the same `model.root`; the union of the groups' findings must be the
findings of the one-model check. `plan_groups` decides, before anything is parsed, from the
files' bytes, the configs and a few looks at the file system, which projects must share a
model: the look-ups that cross projects are listed in docs/performance.md ("Issue 14: splitting
the check by project — the cross-project look-ups"), and each condition below answers one of
them. When something cannot be decided, more is merged, never less: over-merging only costs
speed.

Nodes: one per config folder (a file belongs to the nearest config that loads, as
`ProjectModel.config_for_path` decides; the configs of one folder are one node) and one for
every loose file (they share the `model.root` SQL scope and see every config's names). Two
nodes are joined when

1. a string literal of P that is a relative specifier (`"./x"`, `'../y'`, `"."`) names a file
   of Q by `model.resolve_module`'s rules (every candidate it would try, not only the first: a
   candidate that fails to parse is not in the model);
2. a `main` of P's configs (top level or an env section) is a source of Q;
3. a class name P's configs mention (bindings' `class_name`, the classes of the migrations and
   `exports` blocks, top level and env sections) is declared in Q, or is exported by Q as
   `export { L as N }`; then L is one of Q's names too (the model adds it to its config's and
   to the loose files' bound names), to a fixpoint;
4. the identifier before a namespace method (`X.get(`, `X?.idFromName(` …) in Q is a binding
   name of P and not of the config that governs Q (Q's first config; any, for the loose node);
5. `extends N` in a class head of P and a class N declared in Q;
6. a class of Q extends RpcTarget and P spells its name after `new` or in a return type (in a
   file with a class or a namespace method call), or P declares an RpcTarget class of the same
   name;
7. P's and Q's pipeline files (rollout-unsafe's listing: package.json, shell scripts,
   workflows) share a file holding a deploy command (it is reported once, for the first
   config).

"Declared" is read from class heads (`class N {`, `class N extends B`, …). An anonymous class
takes the name the model gives it: the variable of `const N = class …`; a class a function
returns is named after the function, so every name a condition asks about that the file spells
as a function's name counts as declared there. docs/performance.md ("Issue 14: the split's
groups") lists what else is conservative, the proof and the cost.

Not decided here: the binding-class-not-found "Did you mean" hint, which reads every class name
of the model; `rehint` recomputes it at the merge from every group's class names.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.wrangler import ConfigError, WranglerConfig, load_config

# the conditions by name (plan_groups' `without`), numbered as in the module's docstring
CONDITIONS = (
    "imports",  # 1
    "main",  # 2
    "names",  # 3: a config's class names declared elsewhere
    "renames",  # 3: `export { L as N }` with N a config's class name
    "rename-locals",  # 3: ... then L is a name too
    "bindings",  # 4
    "extends",  # 5
    "rpc",  # 6
    "pipelines",  # 7
)


@dataclass
class Group:
    sources: list[Path]  # in the order given to plan_groups
    configs: list[Path]
    size: int  # bytes of its files


# -- what a file says, from its bytes ------------------------------------------------------------
# Each pattern starts with a literal (`class`, `export`, `./`, `.`): the regular expression
# engine then skips to its places at C speed (a pattern starting with a look-behind tries every
# byte: ~20x slower). What precedes a match is looked at in Python, for the few matches.

_NAME = rb"[A-Za-z_$\x80-\xff][\w$\x80-\xff]*"
_IDENT_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$") | {
    *range(0x80, 0x100)
}
_NOT_BEFORE_KEYWORD = _IDENT_BYTES | {0x2E}  # `.class`, `x.export` are property names
_CLASS = re.compile(rb"class(?![\w$])")
_NAME_AT = re.compile(_NAME)
# a class head without type parameters or comments, up to its body
_SIMPLE_HEAD = re.compile(
    rb"class[ \t]+(" + _NAME + rb")(?:[ \t\r\n]+extends[ \t\r\n]+(" + _NAME + rb")|[ \t\r\n]*\{)"
)
# a block comment, unrolled (no lazy `.*?`: a pattern retried at many places must not scan to
# the end of the text each time)
_COMMENT = rb"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/"
_SPACE_AT = re.compile(rb"(?:\s|" + _COMMENT + rb"|//[^\n]*)*")
_HEAD_BASE = re.compile(rb"extends(?:\s|" + _COMMENT + rb"|//[^\n]*\n)+(" + _NAME + rb")")
# a relative specifier in a string: `./x"`, `../y'` (the opening quote is checked by hand)
_RELATIVE = re.compile(rb"""\.(?:\.?/[^"'`\n\\]*|\.)?["'`]""")
_EXPORT_CLAUSE = re.compile(rb"export(?:\s+type)?\s*\{([^}/]*)([}/]?)")
_CLAUSE_END = re.compile(_COMMENT + rb"|//[^\n]*|\}")
_SPEC_NAME = rb"(?:" + _NAME + rb"|\"[^\"]*\"|'[^']*')"
_RENAME = re.compile(rb"(" + _SPEC_NAME + rb")\s+as\s+(" + _SPEC_NAME + rb")")
# the namespace methods (analyzers.model.NAMESPACE_METHODS) as property names
_METHOD = re.compile(
    rb"\.\s*(?:idFromName|getByName|newUniqueId|idFromString|get|jurisdiction)(?![\w$])"
)
_SKIPPED_BEFORE_DOT = frozenset(b" \t\r\n!)")
_QUOTES = frozenset(b"\"'`")
# a specifier that climbs (`../x`, `..`): the opening quote is looked for on its line
_UP = re.compile(rb"""\.\.?["'`]|\.\./""")
_STRING_END = re.compile(rb"""["'`\n\\]""")
_IDENT_TAIL = re.compile(rb"[\w$\x80-\xff]+\Z")
_NEW = re.compile(rb"new\s+(" + _NAME + rb")")


@dataclass
class _Facts:
    """What a node's files say that a condition reads (from their bytes, joined)."""

    declared: set[bytes] = field(default_factory=set)
    anonymous: list[int] = field(default_factory=list)  # classes named after a function: where
    bases: set[bytes] = field(default_factory=set)
    specifiers: list[tuple[int, str]] = field(default_factory=list)  # (offset, specifier)
    renames: list[tuple[str, str]] = field(default_factory=list)  # (local, exported)
    receivers: set[bytes] = field(default_factory=set)
    unsure_receivers: list[int] = field(default_factory=list)  # a comment in the way: where
    rpc_targets: set[bytes] = field(default_factory=set)
    classes: list[int] = field(default_factory=list)  # where `class` keywords are
    calls: list[int] = field(default_factory=list)  # where namespace methods are


def _facts(
    data: bytes, every_relative: bool = True, tails: frozenset[bytes] | None = None
) -> _Facts:
    """every_relative: also the specifiers `./x` that stay below the importing file's folder
    (they can reach another project only when a project folder lies below that folder).
    tails: the last three bytes of every binding name (all at least three long): a receiver
    ending otherwise is no binding and is not read (None: every receiver is read)."""
    facts = _Facts()
    for match in _CLASS.finditer(data):
        at = match.start()
        if at and data[at - 1] in _NOT_BEFORE_KEYWORD:
            continue
        facts.classes.append(at)
        _class_head(data, at, facts)
    if every_relative:
        for match in _RELATIVE.finditer(data):  # `"./x"`, `'../y'`, `"."`, `".."`
            start, end = match.start(), match.end() - 1
            if start and data[start - 1] == data[end] and data[start - 1] in _QUOTES:
                facts.specifiers.append((start, data[start:end].decode("utf-8", "replace")))
    else:
        # `'../y'`, `"./a/../../y"`, `".."`, `"."`: the string around the match, on its line
        for match in _UP.finditer(data):
            at = match.start()
            line = data.rfind(b"\n", 0, at) + 1
            close = match.end() - 1 if data[match.end() - 1] in _QUOTES else -1
            if close < 0:  # `../` inside the string: its end
                found = _STRING_END.search(data, match.end())
                if found is None:
                    continue
                close = found.start()
            quote = data[close : close + 1]
            start = data.rfind(quote, line, at) + 1
            if start and data[start : start + 1] == b"." and data[close] in _QUOTES:
                facts.specifiers.append((start, data[start:close].decode("utf-8", "replace")))
    for match in _EXPORT_CLAUSE.finditer(data):
        at = match.start()
        if at and data[at - 1] in _NOT_BEFORE_KEYWORD:
            continue
        if match.group(2) == b"}":  # no comment inside: the clause as matched
            if b"as" in match.group(1):
                _renames(match.group(1), facts)
            continue
        at = match.start(1)
        parts: list[bytes] = []
        while True:  # up to the closing brace, comments left out
            stop = _CLAUSE_END.search(data, at)
            if stop is None:
                parts.append(data[at:])
                break
            parts.append(data[at : stop.start()])
            at = stop.end()
            if stop.group(0) == b"}":
                break
        _renames(b" ".join(parts), facts)
    tail = _IDENT_TAIL.search
    receivers = facts.receivers
    calls = facts.calls
    for match in _METHOD.finditer(data):
        at = match.start() - 1
        calls.append(at)
        if at >= 0 and data[at] == 0x3F:  # `?.`
            at -= 1
        if at >= 80 and data[at] in _IDENT_BYTES:  # `x.get`: the identifier ending at `at`
            if tails is not None and data[at - 2 : at + 1] not in tails:
                continue  # (`headers.get`: no binding ends so)
            found = tail(data, at - 80, at + 1)
            if found is not None and found.start() > at - 80:
                name = found.group()
                if not name[:1].isdigit():
                    receivers.add(name)
                continue
        receiver = _receiver_before(data, at)
        if receiver is None:
            facts.unsure_receivers.append(at)
        elif receiver:
            facts.receivers.add(receiver)
    return facts


def _renames(clause: bytes, facts: _Facts) -> None:
    for rename in _RENAME.finditer(clause):
        facts.renames.append((_spec_text(rename.group(1)), _spec_text(rename.group(2))))


def _class_head(data: bytes, at: int, facts: _Facts) -> None:
    """The `class` keyword at `at`: the declared name, the base its `extends` names, whether it
    extends RpcTarget. An anonymous class takes the name around it (`_anonymous_class`)."""
    simple = _SIMPLE_HEAD.match(data, at)
    if simple is not None:  # `class N {`, `class N extends B` (most classes)
        facts.declared.add(simple.group(1))
        if simple.group(2) is not None:
            facts.bases.add(simple.group(2))
            if simple.group(2) == b"RpcTarget":  # rules._common._EXTENDS_RPC_TARGET
                facts.rpc_targets.add(simple.group(1))
        return
    size = len(data)
    place = _SPACE_AT.match(data, at + 5).end()  # type: ignore[union-attr]
    name_match = _NAME_AT.match(data, place)
    name: bytes | None = None
    if name_match is not None and name_match.group() not in (b"extends", b"implements"):
        name = name_match.group()
        place = _SPACE_AT.match(data, name_match.end()).end()  # type: ignore[union-attr]
        following = data[place : place + 10]
        if not (following[:1] in (b"{", b"<") or following.startswith((b"extends", b"implements"))):
            return  # prose in a comment (`class that …`), `class N;`: no declaration
    elif name_match is None and data[place : place + 1] not in (b"{", b"<"):
        return  # `class=`, `class:` (a property or an attribute)
    # the head up to the body: type parameters (which may hold braces) skipped
    if data[place : place + 1] == b"<":
        depth = 0
        limit = min(size, place + 2000)
        while place < limit:
            byte = data[place]
            if byte == 0x3C:
                depth += 1
            elif byte == 0x3E and data[place - 1] != 0x3D:  # not `=>`
                depth -= 1
                if depth == 0:
                    break
            place += 1
        else:
            facts.anonymous.append(at)  # unbalanced: unsure
    body = data.find(b"{", place)
    head = data[place : body if body >= 0 else size]
    base = _HEAD_BASE.search(head)
    if base is not None:
        facts.bases.add(base.group(1))
    if name is None:
        _anonymous_class(data, at, facts)
        return
    facts.declared.add(name)
    if b"RpcTarget" in head:
        facts.rpc_targets.add(name)


_VARIABLE = re.compile(rb"(" + _NAME + rb")\s*$")


def _anonymous_class(data: bytes, at: int, facts: _Facts) -> None:
    """A class without a name at `at`: the model names it after the variable it is assigned
    to (`const N = class …`, also in parentheses or `as`), or after the function returning it
    (`function N() { return class … }`: then `facts.anonymous`); otherwise it has no name and
    the model skips it (`export default class extends`, an argument)."""
    before = data[max(0, at - 200) : at].rstrip(b" \t\r\n(")
    if before.endswith(b"=") and not before.endswith((b"==", b"!=", b"<=", b">=")):
        found = _VARIABLE.search(before[:-1])
        if found is not None:
            facts.declared.add(found.group(1))
            return
        facts.anonymous.append(at)  # `const N: T = class`, a destructuring: unsure
    elif before.endswith((b"return", b"=>", b"?", b":", b"||", b"&&", b",")):
        facts.anonymous.append(at)


def _may_name_factory(data: bytes, word: bytes, start: int, end: int) -> bool:
    """Whether `word` may be the name of a function in data[start:end] (`function word`,
    `word(`, `word =`, `word:`, `word<`): the name the model gives a class the function
    returns."""
    for at in _word_places(data, word, start, end):
        rest = data[at + len(word) : at + len(word) + 40].lstrip()
        if rest[:1] in (b"(", b"=", b":", b"<") or data[max(0, at - 12) : at].rstrip().endswith(
            b"function"
        ):
            return True
    return False


def _receiver_before(data: bytes, at: int) -> bytes | None:
    """The identifier ending a member expression's object whose last byte is at `at` (after
    `)`, `!` and white space: `(env.X)!` -> X); b"" when the object does not end with one;
    None when a comment stands in the way (unsure)."""
    if at >= 0 and data[at] in _IDENT_BYTES:  # `x.get`: the identifier ending at `at`
        found = _IDENT_TAIL.search(data, max(0, at - 80), at + 1)
        if found is not None and (found.start() > at - 80 or at < 80):
            name = found.group()
            return name if not name[:1].isdigit() else b""
    crossed_line = False
    while at >= 0:
        byte = data[at]
        if byte in _SKIPPED_BEFORE_DOT:
            crossed_line = crossed_line or byte == 0x0A
            at -= 1
        elif byte == 0x2F:  # the end of a comment
            return None
        else:
            break
    end = at + 1
    while at >= 0 and data[at] in _IDENT_BYTES:
        at -= 1
    name = data[at + 1 : end]
    if crossed_line:
        # a `//` comment on the receiver's line would hide what follows it
        line = data[data.rfind(b"\n", 0, at + 1) + 1 : end]
        if b"//" in line:
            return None
    return name if name and not name[:1].isdigit() else b""


_RETURN_TYPE = re.compile(rb"\)(?:\s|" + _COMMENT + rb")*:([^{;]{1,300})")
_WORD = re.compile(_NAME)


def _rpc_ranges(starts: list[int], size: int, facts: _Facts) -> list[tuple[int, int]]:
    """Where a node's blob may name an RpcTarget class for a rule: a class file from its first
    `class` keyword on (methods and their return types), and every file that calls a
    namespace method (the wrappers built with a stub: obsolete-name-workaround reads the
    `new` expressions of the access's file)."""
    ranges: dict[int, tuple[int, int]] = {}
    for at in facts.calls:
        index = bisect.bisect_right(starts, at) - 1
        if index not in ranges or ranges[index][0] != starts[index]:
            ranges[index] = _file_range(starts, size, at)
    for at in facts.classes:
        index = bisect.bisect_right(starts, at) - 1
        if index not in ranges:
            ranges[index] = (at, _file_range(starts, size, at)[1])
    return sorted(ranges.values())


def _type_and_new_words(data: bytes, ranges: list[tuple[int, int]]) -> set[bytes]:
    """The names after `new` and the words of what may be return types (after `):`, up to
    the body; 300 bytes when the text stops inside type arguments or parentheses, where a
    brace may belong to an object type), in the ranges given."""
    parts: list[bytes] = []
    for start, end in ranges:
        parts += [m.group(1) for m in _NEW.finditer(data, start, end)]
        for match in _RETURN_TYPE.finditer(data, start, end):
            text = match.group(1)
            if (b"<" in text or b"(" in text) and (
                text.count(b"<") > text.count(b">") - text.count(b"=>")
                or text.count(b"(") > text.count(b")")
            ):  # the brace may be inside type arguments or a function type
                text = data[match.start(1) : match.start(1) + 300]
            parts.append(text)
    return set(_WORD.findall(b" ".join(parts)))


def _folders_above(folder: str) -> list[str]:
    """`folder`'s parent folders, nearest first (as text)."""
    found: list[str] = []
    while True:
        up = os.path.dirname(folder)
        if up == folder:
            return found
        found.append(up)
        folder = up


def _file_range(starts: list[int], size: int, at: int) -> tuple[int, int]:
    """Where the file holding offset `at` of a node's blob starts and ends."""
    index = bisect.bisect_right(starts, at) - 1
    return starts[index], starts[index + 1] if index + 1 < len(starts) else size


def _spec_text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text[1:-1] if text[:1] in {'"', "'"} else text


def _word_places(data: bytes, word: bytes, start: int = 0, end: int | None = None) -> Iterator[int]:
    """Where `word` stands as a whole word (no identifier byte on either side) in
    data[start:end]."""
    at = data.find(word, start, end)
    size = len(data)
    while at >= 0:
        after = at + len(word)
        if (at == 0 or data[at - 1] not in _IDENT_BYTES) and (
            after >= size or data[after] not in _IDENT_BYTES
        ):
            yield at
        at = data.find(word, at + 1, end)


def _has_word(data: bytes, word: bytes, start: int = 0, end: int | None = None) -> bool:
    """`word` as a whole word in data[start:end]."""
    return next(_word_places(data, word, start, end), None) is not None


# -- what a config says ------------------------------------------------------------------------


def _class_names(config: WranglerConfig) -> set[str]:
    """Every class name the config mentions (what the model and the rules look up by name:
    `_named_by`, `_bindings.declared_classes` of every env, migrations' old names too)."""
    from durable_harden.analyzers.rules._bindings import declared_classes

    names = {b.class_name for b in config.bindings} | declared_classes(config, None)
    for env in config.envs:
        names |= declared_classes(config, env)
    scopes: list[Any] = [config.values, *config.envs.values()]
    for scope in scopes:
        migrations = scope.get("migrations")
        for item in migrations if isinstance(migrations, list) else []:
            if not isinstance(item, dict):
                continue
            for key in ("new_classes", "new_sqlite_classes", "deleted_classes"):
                value = item.get(key)
                if isinstance(value, list):
                    names.update(str(v) for v in value)
            for key in ("renamed_classes", "transferred_classes"):
                for pair in item.get(key) or []:
                    if isinstance(pair, dict):
                        names.update(str(pair.get(k)) for k in ("from", "to", "from_script"))
        exports = scope.get("exports")
        if isinstance(exports, dict):
            names.update(str(name) for name in exports)
    return names


def _mains(config: WranglerConfig) -> list[Path]:
    from durable_harden.analyzers.rules._bindings import main_module_path

    found = [main_module_path(config, env) for env in [None, *config.envs]]
    return [p for p in found if p is not None]


# -- the plan ----------------------------------------------------------------------------------


class _Joins:
    """Union-find over node indexes."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, node: int) -> int:
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def join(self, nodes: Iterable[int]) -> None:
        first: int | None = None
        for node in nodes:
            root = self.find(node)
            if first is None:
                first = root
            elif root != first:
                self.parent[root] = first


_SUFFIXES = (".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".jsx")


def _candidates(from_file: str, spec: str) -> list[str]:
    """The paths `model.resolve_module` tries for `spec` imported from `from_file`, in order."""
    base = posixpath.normpath(posixpath.join(posixpath.dirname(from_file), spec))
    name = base[base.rfind("/") + 1 :]
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""
    stem = base[: -len(suffix)] if suffix in {".js", ".mjs", ".cjs", ".jsx"} else base
    found = [base]
    for each in _SUFFIXES:
        found += [stem + each, f"{base}/index{each}"]
    return found


def plan_groups(
    root: Path,
    sources: Sequence[Path],
    configs: Sequence[Path],
    data: Mapping[Path, bytes],
    *,
    without: Collection[str] = (),
) -> list[Group]:
    """The groups of `sources` and `configs` that can be analysed apart (see the module's
    docstring). `data`: the bytes of each file that could be read (a file missing from it is
    put with the files of its folder's project). root: the folder `check` was given
    (`model.root`). without: conditions left out (CONDITIONS; the tests show each is needed)."""
    # the configs that load, as build_model will load them (a config that does not load is
    # skipped by every model: it goes with the project its path belongs to)
    loaded: list[tuple[Path, WranglerConfig]] = []
    for path in configs:
        raw = data.get(path)
        if raw is None:
            continue
        try:
            loaded.append((path, load_config(path, raw)))
        except ConfigError:
            continue
    # nodes: 0 = the loose files, then one per config folder (ProjectModel._nearest_config)
    node_of_root: dict[str, int] = {}
    node_configs: list[list[WranglerConfig]] = [[]]
    for _, config in loaded:
        key = str(config.root)
        node = node_of_root.get(key)
        if node is None:
            node = node_of_root[key] = len(node_configs)
            node_configs.append([])
        node_configs[node].append(config)
    count = len(node_configs)
    folders: dict[str, int] = {}

    def node_for(path: Path) -> int:
        folder = os.path.dirname(str(path))
        climbed: list[str] = []
        while True:
            known = folders.get(folder)
            if known is not None:
                break
            known = node_of_root.get(folder)
            if known is not None:
                break
            climbed.append(folder)
            up = os.path.dirname(folder)
            if up == folder:
                known = 0
                break
            folder = up
        for each in climbed:
            folders[each] = known
        return known

    in_folder: dict[str, int] = {}

    def node_for_folder(folder: str) -> int:
        """The node of a file directly in `folder` (ProjectModel._nearest_config)."""
        known = in_folder.get(folder)
        if known is None:
            known = in_folder[folder] = node_for(Path(folder, "_"))
        return known

    source_nodes = [node_for(p) for p in sources]
    config_nodes = [node_for(p) for p in configs]
    joins = _Joins(count)

    # the binding names' last bytes (condition 4 reads only receivers that may be one)
    binding_words = {b.name.encode() for _, c in loaded for b in c.bindings}
    tails = (
        frozenset(w[-3:] for w in binding_words)
        if all(len(w) >= 3 for w in binding_words)
        else None
    )
    # a `./x` from a folder with no project folder below it stays in the importer's project
    above_projects = {up for key in node_of_root for up in _folders_above(key)}
    node_roots = ["", *node_of_root]  # node -> its folder (as text)
    # per node: what its files say, read from their bytes joined (one scan per pattern and
    # node, not per file: the patterns cannot cross the blank line between two files, or only
    # to merge more)
    blobs: list[bytes] = []
    starts: list[list[int]] = []  # per node: where each file starts in its blob
    paths: list[list[Path]] = []
    facts_of: list[_Facts] = []
    members: list[list[Path]] = [[] for _ in range(count)]
    for path, node in zip(sources, source_nodes, strict=True):
        members[node].append(path)
    for node in range(count):
        parts: list[bytes] = []
        places: list[int] = []
        readable: list[Path] = []
        at = 0
        for path in members[node]:
            raw = data.get(path)
            if raw is None:
                continue
            parts.append(raw)
            places.append(at)
            readable.append(path)
            at += len(raw) + 2
        blob = b"\n\n".join(parts)
        blobs.append(blob)
        starts.append(places)
        paths.append(readable)
        facts_of.append(_facts(blob, node == 0 or node_roots[node] in above_projects, tails))

    # 1. relative specifiers: every candidate resolve_module may pick
    by_text = {p.as_posix(): n for p, n in zip(sources, source_nodes, strict=True)}
    resolved: dict[tuple[str, str], set[int]] = {}
    for node in range(count) if "imports" not in without else []:
        for at, spec in facts_of[node].specifiers:
            importer = paths[node][bisect.bisect_right(starts[node], at) - 1]
            folder = os.path.dirname(str(importer))
            if spec.startswith("./") and "/.." not in spec and folder not in above_projects:
                continue
            if "/.." not in spec[2:] and node_for_folder(folder) == node:
                # every candidate is in the folder `base` or in its parent: when both belong
                # to the importer's project (no project folder below them), none is elsewhere
                named = posixpath.normpath(posixpath.join(folder, spec))
                if (
                    node_for_folder(named) == node
                    and node_for_folder(os.path.dirname(named)) == node
                ):
                    continue
            asked_from = (folder, spec)
            hits = resolved.get(asked_from)
            if hits is None:
                hits = resolved[asked_from] = {
                    found
                    for candidate in _candidates(importer.as_posix(), spec)
                    if (found := by_text.get(candidate)) is not None
                }
            if hits - {node}:
                joins.join((node, *hits))

    # 2. mains
    for node in range(1, count) if "main" not in without else []:
        for config in node_configs[node]:
            for main in _mains(config):  # resolved (`_bindings.main_module_path`)
                target = by_text.get(main.as_posix())
                if target is not None and target != node:
                    joins.join((node, target))

    # 3. class names: the nodes naming each name (configs, then export renames to a fixpoint)
    naming: dict[str, set[int]] = {}
    for node in range(1, count):
        for config in node_configs[node]:
            for name in _class_names(config):
                naming.setdefault(name, set()).add(node)
    renames = [(node, pair) for node in range(count) for pair in facts_of[node].renames]
    changed = True
    while changed:
        changed = False
        for node, (local, exported) in renames:
            owners = naming.get(exported)
            if owners is None or "renames" in without:
                continue
            joins.join((node, *owners))
            if "rename-locals" in without:
                continue
            holders = naming.setdefault(local, set())
            if node not in holders:
                holders.add(node)
                changed = True

    # 5./3. declarations: named by a config, or the base of a class elsewhere
    bases: dict[bytes, set[int]] = {}
    for node in range(count) if "extends" not in without else []:
        for base in facts_of[node].bases:
            bases.setdefault(base, set()).add(node)
    asked = {name.encode(): owners for name, owners in naming.items() if "names" not in without}
    for base, nodes in bases.items():
        asked[base] = asked.get(base, set()) | nodes
    asked_words = tuple(asked)
    declaring: dict[bytes, set[int]] = {}
    for node in range(count):
        f = facts_of[node]
        for word in f.declared:
            if word in asked:
                declaring.setdefault(word, set()).add(node)
        for start, end in {_file_range(starts[node], len(blobs[node]), at) for at in f.anonymous}:
            for word in asked_words:  # in a file with a class named after a function
                if word not in f.declared and _may_name_factory(blobs[node], word, start, end):
                    declaring.setdefault(word, set()).add(node)
    for word, nodes in declaring.items():
        joins.join((*nodes, *asked[word]))

    # 4. namespace accesses through another project's binding
    binding_nodes: dict[bytes, set[int]] = {}
    own_bindings: list[set[bytes]] = [set() for _ in range(count)]
    for node in range(1, count):
        for index, config in enumerate(node_configs[node]):
            for binding in config.bindings:
                word = binding.name.encode()
                binding_nodes.setdefault(word, set()).add(node)
                if index == 0:  # the config config_for_path answers for the folder
                    own_bindings[node].add(word)
    if binding_nodes and "bindings" not in without:
        for node in range(count):
            f = facts_of[node]
            receivers = f.receivers
            unsure = {_file_range(starts[node], len(blobs[node]), at) for at in f.unsure_receivers}
            for start, end in unsure:  # every binding name such a file spells
                receivers = receivers | {
                    w for w in binding_nodes if _has_word(blobs[node], w, start, end)
                }
            for receiver in receivers:
                owners = binding_nodes.get(receiver)
                if owners is not None and receiver not in own_bindings[node]:
                    joins.join((node, *owners))

    # 6. RpcTarget classes, by their names where a rule reads them: after `new` (`return new
    # N`, a wrapper built in a caller) and in return types (rpc-result-not-disposed reads the
    # words of a method's return type)
    targets: dict[bytes, set[int]] = {}
    for node in range(count):
        for word in facts_of[node].rpc_targets:
            targets.setdefault(word, set()).add(node)
    if targets and "rpc" not in without:
        for owners in targets.values():
            # one name declared twice: obsolete-name-workaround keeps the later file's class
            # (and reports there)
            joins.join(owners)
        # the names by their owners (joined above: one node stands for each set)
        by_owner: dict[int, set[bytes]] = {}
        for word, owners in targets.items():
            by_owner.setdefault(min(owners), set()).add(word)
        for node in range(count):
            spelled: set[bytes] | None = None
            for owner, words in by_owner.items():
                if joins.find(node) == joins.find(owner):
                    continue
                if spelled is None:
                    spelled = _type_and_new_words(
                        blobs[node], _rpc_ranges(starts[node], len(blobs[node]), facts_of[node])
                    )
                if not spelled.isdisjoint(words):
                    joins.join((node, owner))

    # 7. pipeline files with a deploy command shared by two projects
    if "pipelines" not in without:
        _join_shared_pipelines(Path(root).resolve(), node_configs, joins)

    # the groups, in the order of their first member
    made: dict[int, Group] = {}
    order: list[int] = []
    sides = ((sources, source_nodes, False), (configs, config_nodes, True))
    for listed, listed_nodes, is_config in sides:
        for item, item_node in zip(listed, listed_nodes, strict=True):
            top = joins.find(item_node)
            group = made.get(top)
            if group is None:
                group = made[top] = Group([], [], 0)
                order.append(top)
            (group.configs if is_config else group.sources).append(item)
            group.size += len(data.get(item, b""))
    return [made[top] for top in order]


def _join_shared_pipelines(
    root: Path, node_configs: list[list[WranglerConfig]], joins: _Joins
) -> None:
    """Condition 7: the nodes whose configs' pipeline files (rollout_unsafe's own listing)
    share a file with a deploy command. Only configs that can share one are listed: nested
    folders (the shell scripts under a folder) and folders walking up to a common workflows
    folder."""
    from durable_harden.analyzers.rules import rollout_unsafe

    class _Root:  # what the listing reads of the model
        def __init__(self, root: Path) -> None:
            self.root = root
            self.memo: dict[str, Any] = {}

    configs = [(node, c) for node in range(1, len(node_configs)) for c in node_configs[node]]
    if len({node for node, _ in configs}) < 2:
        return
    at_root: dict[str, set[int]] = {}
    for node, config in configs:
        at_root.setdefault(str(config.root), set()).add(node)
    candidates: set[int] = set()
    # nested folders: the outer one's shell scripts are listed under the whole folder
    for node, config in configs:
        for up in _folders_above(str(config.root)):
            outer = at_root.get(up)
            if outer is not None and outer != {node}:
                candidates |= outer | {node}
    # the workflows folders met walking up from each config (the rule's walk: it stops at the
    # repository's top or the checked folder), each folder looked at once
    walked: dict[str, tuple[bool, bool]] = {}
    workflow_folders: dict[str, set[int]] = {}
    for node, config in configs:
        folder = config.root
        while True:
            key = str(folder)
            seen = walked.get(key)
            if seen is None:
                seen = walked[key] = (
                    (folder / ".github" / "workflows").is_dir(),
                    (folder / ".git").exists() or folder == root or folder.parent == folder,
                )
            if seen[0]:
                workflow_folders.setdefault(key, set()).add(node)
            if seen[1]:
                break
            folder = folder.parent
    candidates |= {n for nodes in workflow_folders.values() if len(nodes) > 1 for n in nodes}
    if not candidates:
        return
    holders: dict[Path, set[int]] = {}
    model = _Root(root)
    for node, config in configs:
        if node not in candidates:
            continue
        for path in rollout_unsafe._list_pipeline_files(model, config):  # type: ignore[arg-type]
            holders.setdefault(path, set()).add(node)
    for path, nodes in holders.items():
        if len(nodes) < 2 or len({joins.find(n) for n in nodes}) < 2:
            continue
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        scan = (
            rollout_unsafe._package_scripts_only(path, raw) if path.name == "package.json" else raw
        )
        if any(c.kind == "deploy" for c in rollout_unsafe.commands_in(path, scan)):
            joins.join(nodes)


# -- the merge ---------------------------------------------------------------------------------


def rehint(finding: Finding, class_names: Iterable[str], bound: Iterable[str]) -> Finding | None:
    """A binding-class-not-found finding of one group with its "Did you mean" hint computed
    from `class_names`, every Durable Object class name of every group (`{c.name for c in
    model.classes}` of each); bound: the class names of its config's bindings. None when the
    hint is the same; else a copy with the message and `data["suggestion"]` of the one-model
    check (its fix, built from the suggestion, must be built again: `codeactions.fixes_for`)."""
    from durable_harden.analyzers.rules import binding_class_not_found as rule

    if finding.rule_id != rule.RULE.id or finding.message_id != "unknown-class":
        return None
    class_name, old = finding.data.get("class"), finding.data.get("suggestion")
    tail = rule.hint_text(old if isinstance(old, str) else None)
    if not isinstance(class_name, str) or not finding.message.endswith(tail):
        return None
    close = rule.closest_class(class_name, class_names, set(bound))
    if close == old:
        return None
    import copy

    new = copy.copy(finding)
    new.data = {**finding.data, "suggestion": close}
    new.message = finding.message[: len(finding.message) - len(tail)] + rule.hint_text(close)
    new.related = list(finding.related)
    return new
