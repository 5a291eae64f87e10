"""Shared helpers for rules: spans of nodes, scoping, references."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, class_declarations
from durable_harden.analyzers.findings import Span
from durable_harden.analyzers.source import Previous, SourceFile
from durable_harden.analyzers.tsutil import node_text, walk_type

CF = "https://developers.cloudflare.com"
REF_RULES = f"{CF}/durable-objects/best-practices/rules-of-durable-objects/"
REF_WEBSOCKETS = f"{CF}/durable-objects/best-practices/websockets/"
REF_STATE = f"{CF}/durable-objects/api/state/"
REF_ALARMS = f"{CF}/durable-objects/api/alarms/"
REF_SQL = f"{CF}/durable-objects/api/sqlite-storage-api/"
REF_LIMITS = f"{CF}/durable-objects/platform/limits/"
REF_LIFECYCLE = f"{CF}/durable-objects/concepts/durable-object-lifecycle/"
REF_GRADUAL = f"{CF}/workers/versions-and-deployments/gradual-deployments/"
REF_CHANGELOG = f"{CF}/changelog/"
REF_MIGRATIONS = f"{CF}/durable-objects/reference/durable-objects-migrations/"
REF_SQLITE_ALTER = "https://www.sqlite.org/lang_altertable.html"
REF_D1_FOREIGN_KEYS = f"{CF}/d1/sql-api/foreign-keys/"

# Appended to the `what` of the rules that judge SQL statements: which statements they see.
SQL_REACH = """
SQL is seen where it reaches `exec()`: written in the call, in a constant (also imported), or
through the project's own wrappers, also in other files (an imported function, a base-class
method, a helper class's method on a value whose class the file states, a wrapper of a wrapper)
and inside objects and arrays (`querySql([{ sql: "…", params }])`, `run({ query: "…", args })`).
A wrapper reached through a value of no stated class, and SQL built at run time, are not
followed (docs/identity-and-config.md, "How SQL is found")."""
REF_SQLITE_EQP = "https://www.sqlite.org/eqp.html"


T = TypeVar("T")


def by_file(lookup: Callable[[Path], T]) -> Callable[[SourceFile], T]:
    """`lookup(file.path)` asked once per file object (kept for one rule run): a rule over the
    thousand statements of a file asks the model's path-keyed look-ups (`schema_for`,
    `config_for_path`: path hashing, the scope's root) once, not per statement."""
    found: dict[SourceFile, T] = {}

    def get(file: SourceFile) -> T:
        try:
            return found[file]
        except KeyError:
            value = found[file] = lookup(file.path)
            return value

    return get


def node_span(file: SourceFile, node: Node) -> Span:
    return Span(file.path, node.start_byte, node.end_byte)


# more places of the words than this in a scope: a walk of every call costs less than climbing
# from each place (a one-letter helper name is everywhere)
MENTIONS_LIMIT = 256


class Places:
    """A word's places in one version of a file (sorted starts), as runs: each a slice
    `base[lo:hi]` of a list shared with older versions, every place shifted by `shift`. An
    edit cuts the runs at the edit (a bisect each), shifts those after it (one number per
    run) and adds the places found around it: the places are not copied or shifted one by
    one on every keystroke (14 words asked a keystroke in the benchmark's file, hundreds of
    places each). Past `_RUNS_MAX` runs they are flattened into one list."""

    __slots__ = ("runs",)

    def __init__(self, runs: list[tuple[list[int], int, int, int]]) -> None:
        self.runs = runs  # none empty (lo < hi), in order, not overlapping

    def between(self, start: int, stop: int) -> list[int]:
        """The places p with start <= p <= stop, in order."""
        found: list[int] = []
        for base, lo, hi, shift in self.runs:
            first = bisect.bisect_left(base, start - shift, lo, hi)
            last = bisect.bisect_right(base, stop - shift, first, hi)
            if first < last:
                part = base[first:last]
                found += map(shift.__add__, part) if shift else part
        return found

    def any_between(self, start: int, stop: int) -> bool:
        for base, lo, hi, shift in self.runs:
            first = bisect.bisect_left(base, start - shift, lo, hi)
            if first < hi and base[first] + shift <= stop:
                return True
        return False

    def __len__(self) -> int:
        return sum(hi - lo for _, lo, hi, _ in self.runs)

    def __bool__(self) -> bool:
        return bool(self.runs)  # no run is empty

    def as_list(self) -> list[int]:
        found: list[int] = []
        for base, lo, hi, shift in self.runs:
            part = base[lo:hi]
            found += map(shift.__add__, part) if shift else part
        return found

    def edited(self, data: bytes, word: bytes, start: int, old_end: int, new_end: int) -> Places:
        """The places in `data`, the text after replacing start..old_end of this one's text by
        start..new_end of `data`: those ending before the edit as they are, those starting at
        or after its old end shifted, the others searched for around it."""
        delta = new_end - old_end
        size = len(word)
        # a place ending before the edit, or starting after it, is in the unchanged text; the
        # others start in start - size + 1 .. new_end of the new text
        first = max(0, start - size + 1)
        before: list[tuple[list[int], int, int, int]] = []
        after: list[tuple[list[int], int, int, int]] = []
        for base, lo, hi, shift in self.runs:
            cut = bisect.bisect_left(base, first - shift, lo, hi)
            if cut > lo:
                before.append((base, lo, cut, shift))
            cut = bisect.bisect_left(base, old_end - shift, cut, hi)
            if cut < hi:
                after.append((base, cut, hi, shift + delta))
        middle = _places(data, word, first, min(len(data), new_end + size - 1))
        runs = before + ([(middle, 0, len(middle), 0)] if middle else []) + after
        if len(runs) > _RUNS_MAX:
            flat = Places(runs).as_list()
            runs = [(flat, 0, len(flat), 0)]
        return Places(runs)


_RUNS_MAX = 16


def places_of(file: SourceFile, word: bytes) -> Places:
    """Where `word` occurs in the file's text, kept in its memo. A re-parsed file's are its
    previous version's cut at the edit (`Places.edited`), with a search of the edit's
    neighbourhood only (the language server asks for the same words on every keystroke: a
    search of a 200 KB buffer per word was ~40 us, ~20 words a keystroke)."""
    memo: dict[bytes, Places] | None = file.memo.get("word_places")
    previous = file.memo.get("previous")
    if memo is None:
        memo = file.memo["word_places"] = {}
        if previous is not None:
            # the previous version's places and the edit since, kept for the next version: a
            # word this version is not asked for (an analysis that reused the edited member's
            # results) is then cut from them there, not searched for in the whole text
            older = previous.file.memo.get("word_places")
            if older is not None:
                edit = (previous.start, previous.old_end, previous.new_end)
                file.memo[_PLACES_BACK] = (older, edit)
    found = memo.get(word)
    if found is None:
        old = _places_before(previous, word) if previous is not None else None
        if previous is not None and old is not None:
            found = old.edited(file.data, word, previous.start, previous.old_end, previous.new_end)
        else:
            every = _places(file.data, word, 0, None)
            found = Places([(every, 0, len(every), 0)] if every else [])
        memo[word] = found
    return found


_PLACES_BACK = "word_places_back"  # (the version before's places, the edit from it)


def _places_before(previous: Previous, word: bytes) -> Places | None:
    """The word's places in the previous version (`previous.file`): its own, or, when it was
    not asked for them, the version before's cut at the edit between them (one step back)."""
    own: dict[bytes, Places] | None = previous.file.memo.get("word_places")
    found = own.get(word) if own is not None else None
    if found is None:
        back = previous.file.memo.get(_PLACES_BACK)
        if back is not None and word in back[0]:
            start, old_end, new_end = back[1]
            found = back[0][word].edited(previous.file.data, word, start, old_end, new_end)
    return found


def word_places(file: SourceFile, word: bytes) -> list[int]:
    """Where `word` occurs in the file's text (sorted starts), from `places_of`."""
    return places_of(file, word).as_list()


def spells(file: SourceFile, word: bytes, start: int, end: int) -> bool:
    """`file.data.find(word, start, end) >= 0` (the word lies within data[start:end]), from
    the word's places kept in the file's memo (`places_of`): a rule that asks it of a whole
    class on every keystroke searched ~150 KB for a word the class does not hold."""
    return places_of(file, word).any_between(start, end - len(word))


def _places(data: bytes, word: bytes, start: int, end: int | None) -> list[int]:
    found: list[int] = []
    end = len(data) if end is None else end
    at = data.find(word, start, end)
    while at != -1:
        found.append(at)
        at = data.find(word, at + 1, end)
    return found


# with more places than this, the calls of the scope are counted first; with at most this many
# calls per place, each call's callee is looked at instead of climbing from each place
MENTIONS_FEW = 8
CALLS_PER_PLACE = 8


# bytes that continue a JavaScript name (ASCII letters, digits, `_`, `$`, `#` of a private name,
# and any byte of a non-ASCII character): a word next to one is inside a longer name
_NAME_BYTE = bytes(
    1 if (chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_$#")) or b >= 0x80 else 0
    for b in range(256)
)
# the places of a scope checked one by one for `whole` (more: a look at every callee of the scope
# is the cheaper way anyway, and needs no such check)
_WHOLE_CHECKED = 4 * MENTIONS_FEW


def _alone(data: bytes, at: int, size: int) -> bool:
    """The word at `at` is a whole name: no name byte right before or after it."""
    end = at + size
    return not (at > 0 and _NAME_BYTE[data[at - 1]]) and not (
        end < len(data) and _NAME_BYTE[data[end]]
    )


_NEEDLES: dict[tuple[str, ...], list[bytes]] = {}  # the words asked about, encoded once
_NEEDLES_MAX = 1024


def _callee_has(data: bytes, call: Node, needles: list[bytes]) -> bool:
    func = call.child_by_field_name("function")
    if func is None:
        return False
    callee = data[func.start_byte : func.end_byte]
    for needle in needles:  # noqa: SIM110 (a loop, not any(): no generator per call)
        if needle in callee:
            return True
    return False


def calls_mentioning(
    data: bytes, scope: Node, *words: str, file: SourceFile | None = None, whole: bool = False
) -> list[Node]:
    """The `call_expression`s of `scope` (itself included, in pre-order, as `walk_type(scope,
    "call_expression")` gives them) whose callee's text may contain one of `words`: at least
    every call whose callee is or ends with such a word (callers check the callee exactly).
    Found from the words' places in the text (each climbed to the scope), not by a walk of
    every call: a class of thousands of members holds tens of thousands of calls and mentions
    `setAlarm` a few times. With many places (or about as many calls as places), the calls of
    the scope whose callee's text holds a word. `file`: the file whose text `data` is (its
    places are then kept between keystrokes, `word_places`). `whole`: the caller wants only
    the calls whose callee holds a word as a whole name (a property or an identifier equal to
    it: `storage.get`, not `getAlarm` or `target`), so a place inside a longer name is no
    reason to look."""
    start, end = scope.start_byte, scope.end_byte
    needles = _NEEDLES.get(words)
    if needles is None:
        if len(_NEEDLES) >= _NEEDLES_MAX:  # (a file's function names are words too)
            _NEEDLES.clear()
        needles = _NEEDLES[words] = [w.encode() for w in words]
    kept: list[list[int]] | None = None
    if file is not None and file.data is data:
        kept = []
        places = 0
        for needle in needles:
            mine = places_of(file, needle).between(start, end - len(needle))
            if whole and mine and len(mine) <= _WHOLE_CHECKED:
                mine = [at for at in mine if _alone(data, at, len(needle))]
            kept.append(mine)
            places += len(mine)
    else:
        places = sum(data.count(n, start, end) for n in needles)
    if not places:
        # no word in the scope: no callee there holds one (most questions of most classes:
        # ~2/3 of them on a generated monorepo, each paid a cursor and the memo's look-up)
        return []
    if kept is not None and file is not None:
        # the scope's calls with their callees' text, shared by every rule asking about this
        # scope (ten rules ask about each class with their own words): when another rule has
        # read them, or when they are few for the places, a look at each is the answer
        memo: dict[tuple[int, int, int, str], list[tuple[Node, bytes | None]]] = (
            file.memo.setdefault("callees_of_scope", {})
        )
        scope_key = (scope.id, start, end, scope.type)
        callees = memo.get(scope_key)
        if callees is None and places > MENTIONS_FEW:
            calls = list(walk_type(scope, "call_expression", file=file))
            if places > MENTIONS_LIMIT or len(calls) <= CALLS_PER_PLACE * places:
                callees = memo[scope_key] = _callees(data, calls)
            else:
                return _climbed(data, scope, needles, kept)
        if callees is not None and (
            places > MENTIONS_LIMIT or len(callees) <= CALLS_PER_PLACE * max(places, 1)
        ):
            return [call for call, callee in callees if _holds(callee, needles)]
        return _climbed(data, scope, needles, kept)
    if places > MENTIONS_FEW:
        # many places: climbing from each (a parent costs a descent in tree-sitter) costs more
        # than looking at the callee of each call of the scope, unless the calls are many more
        calls = list(walk_type(scope, "call_expression"))
        if places > MENTIONS_LIMIT or len(calls) <= CALLS_PER_PLACE * places:
            return [c for c in calls if _callee_has(data, c, needles)]
    return _climbed(data, scope, needles, kept)


def _callees(data: bytes, calls: list[Node]) -> list[tuple[Node, bytes | None]]:
    """Each call with its callee's text (None without a callee: it holds no word)."""
    found: list[tuple[Node, bytes | None]] = []
    for call in calls:
        func = call.child_by_field_name("function")
        found.append((call, data[func.start_byte : func.end_byte] if func is not None else None))
    return found


def _holds(callee: bytes | None, needles: list[bytes]) -> bool:
    if callee is None:
        return False
    for needle in needles:  # noqa: SIM110 (a loop, not any(): no generator per call)
        if needle in callee:
            return True
    return False


def _climbed(
    data: bytes, scope: Node, needles: list[bytes], kept: list[list[int]] | None
) -> list[Node]:
    """calls_mentioning from each place of the words: every call of the scope whose callee
    holds the place. Such a call holds the place's first byte, so it lies on the path a
    cursor descends from the scope to that byte (at each level, the first child ending after
    it: the one holding it, children being ordered and disjoint); one descent per place,
    where climbing with `parent` (itself a descent from the root in tree-sitter) cost a
    descent per level (docs/performance.md, "Issue 14: the cold check, cheaper again")."""
    found: dict[int, Node] = {}
    cursor = scope.walk()
    for number, needle in enumerate(needles):
        ats = (
            kept[number]
            if kept is not None
            else _places(data, needle, scope.start_byte, scope.end_byte)
        )
        for at in ats:
            stop = at + len(needle)
            cursor.reset(scope)
            node: Node | None = scope
            while node is not None:
                if node.start_byte > at or node.end_byte < stop:
                    break  # (a node past a gap, or ending inside the word: nothing below holds it)
                if node.type == "call_expression":
                    func = node.child_by_field_name("function")
                    if func is not None and func.start_byte <= at and stop <= func.end_byte:
                        found[node.id] = node
                node = cursor.node if cursor.goto_first_child_for_byte(at) is not None else None
    return sorted(found.values(), key=lambda n: (n.start_byte, -n.end_byte))


def functions_called_from(cls: DurableObjectClass) -> list[Node]:
    """Top-level functions of the class's file that the class calls by name (one level deep,
    then transitively among those functions)."""
    file = cls.file
    top = _top_level_functions(file)
    reached: dict[str, Node] = {}
    if not top:
        return []
    frontier = [cls.node]
    while frontier:
        scope = frontier.pop()
        # the calls naming a top-level function (its name in the callee's text) are few; with
        # many such functions a walk of every call costs less than a search per name
        calls = (
            calls_mentioning(file.data, scope, *top, file=file)
            if len(top) <= 16
            else list(walk_type(scope, "call_expression", file=file))
        )
        for call in calls:
            func = call.child_by_field_name("function")
            if func is None or func.type != "identifier":
                continue
            callee = node_text(file.data, func)
            if callee in top and callee not in reached:
                reached[callee] = top[callee]
                frontier.append(top[callee])
    return list(reached.values())


def _top_level_functions(file: SourceFile) -> dict[str, Node]:
    cached = file.memo.get("top_level_functions")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    top: dict[str, Node] = {}
    for stmt in file.root.named_children:
        decl = stmt.child_by_field_name("declaration") if stmt.type == "export_statement" else stmt
        if decl is None:
            continue
        if decl.type == "function_declaration":
            name = decl.child_by_field_name("name")
            if name is not None:
                top[node_text(file.data, name)] = decl
        elif decl.type == "lexical_declaration":
            for declarator in decl.named_children:
                name, value = (
                    declarator.child_by_field_name("name"),
                    declarator.child_by_field_name("value"),
                )
                if (
                    name is not None
                    and value is not None
                    and value.type in {"arrow_function", "function_expression"}
                ):
                    top[node_text(file.data, name)] = value
    file.memo["top_level_functions"] = top
    return top


_EXTENDS_RPC_TARGET = re.compile(r"\bextends\s+RpcTarget\b")


def rpc_target_classes(file: SourceFile) -> dict[str, Node]:
    """The file's classes extending RpcTarget: name -> name node (memo: a function of the file;
    a copy). Read by obsolete-name-workaround (wrappers built with the object's name) and
    rpc-result-not-disposed (return types holding stubs)."""
    cached: dict[str, Node] | None = file.memo.get("rpc_target_classes")
    if cached is None:
        cached = {}
        # `extends RpcTarget` needs the word: without it, no walk of the file's classes (the
        # walk would index every node type of a big file re-parsed on a keystroke)
        if b"RpcTarget" in file.data:
            # the class declarations from the keyword (classes.class_declarations), not the
            # file's node index
            declarations = [d for d in class_declarations(file) if d.type == "class_declaration"]
            for decl in declarations:
                heritage = next((c for c in decl.children if c.type == "class_heritage"), None)
                name = decl.child_by_field_name("name")
                if heritage is None or name is None:
                    continue
                if _EXTENDS_RPC_TARGET.search(node_text(file.data, heritage)):
                    cached[node_text(file.data, name)] = name
        file.memo["rpc_target_classes"] = cached
    return dict(cached)
