"""Re-extracting only the edited member of a re-parsed file (docs/performance.md, "Issue 14:
the model below the file").

The language server re-parses an open document on every keystroke (`source.reparse`, which
records the previous version and the edit in the new file's memo as `previous`). Most
keystrokes change one method of one class. What the model extracts from a file (its classes,
SQL statements, the wrapper summary, namespace accesses, string constants, typed state
parameters, declared types) is then the previous version's, shifted past the edit, except
inside that method, which is read again on its own.

A *splice* applies when:

- the edit lies strictly inside one member (a method, a comment, a signature) of a class
  declared at the top level of the file (`class`, `export class`, `export default class`);
  in the constructor, only when its parameters stay the same (the legacy state parameter and
  the first parameter seed the class's aliases);
- the new tree has the same top-level statements, the same class and the same members, at the
  same places (shifted by the edit's length after it), and every range whose syntax changed
  (`Tree.changed_ranges`) lies inside the edited member;
- the edited member states the same facts before and after, as the rest of the file reads them:
  no class inside it, the same alias assignments (`this.sql = ctx.storage.sql`), the same
  parameters typed DurableObjectState/Storage/SqlStorage, the same names of string constants,
  the same declared types (`db: Database`);
- per result, the inputs from outside the file are the same (the key `per_file` holds), and
  nothing outside the member read something inside it (a statement whose SQL literal lies in
  the member but whose exec() call does not; a literal whose use moved in or out of it).

A region of the top level may also hold declarations of string constants (`const SCHEMA = "…"`,
plain strings or templates without `${…}`, the same names before and after: typing in
a schema or a query constant): the calls outside the region that run one of them are read
again (`statements`, `_read_call_again`), as is any statement whose `${…}` names a constant of
the region (whose text rules read: docs/performance.md, "Issue 14: typing in a top-level
constant").

Otherwise the whole file is extracted (the cold check's path). Results are new objects holding
nodes of the new tree at shifted offsets (`Splice.relocate`): an object of the previous
version is never handed out again, so identity still means "this extraction of this parse".
`Splice.origin` maps each carried-over class, statement and namespace access (by id) to the one
of the previous version it was moved from (the unchanged units), for whoever wants to reuse
work per unit.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import itertools
import operator
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tree_sitter import Node

from durable_harden.analyzers.budget import OverBudget
from durable_harden.analyzers.classes import (
    DurableObjectClass,
    alias_pairs,
    method_entry,
    state_param_names,
)
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.sql import (
    SqlStatement,
    Substitution,
    constant_declarations,
    split_statements,
)
from durable_harden.analyzers.sqlwrappers import (
    FileWrappers,
    counts_after,
    declared_from_counts,
    exec_sinks_within,
    function_keys,
    heads,
    summarize_calls,
    type_notes,
)
from durable_harden.analyzers.tsutil import literal_chars, node_text, normalize_expr, walk_type

CLASS_TYPES = ("class_declaration", "abstract_class_declaration", "class")
_start_of = operator.attrgetter("start_byte")
_end_of = operator.attrgetter("end_byte")

T = TypeVar("T")

# how often each path was taken (tests read them; never reset by the code)
COUNTS = {"spliced": 0, "whole": 0, "failed": 0}


class NoSplice(Exception):
    """The edit is not one the splice can follow: extract the whole file."""


@dataclass(eq=False)
class Splice:
    """The previous version `old` and the new one agree outside a region: `lo`..`hi` of the
    old bytes, `lo`..`hi + delta` of the new ones, which holds the edit and whole members of
    one container (a top-level class's body, or the file's top level)."""

    old: SourceFile
    new: SourceFile
    lo: int
    hi: int
    delta: int
    members_old: list[Node]  # the old tree's members in the region, in order
    members_new: list[Node]  # the new tree's members in the region, in order
    # the new tree's class body holding the region (None: the top level); its children listed
    container: Node | None = None
    # (the old region's type notes, the new region's) when they differ: the file's declared
    # types differ with them (sqlwrappers.declared_types), nothing else the region states
    notes: tuple[list[Any], list[Any]] | None = None
    # id of each carried-over object -> the previous version's object it was moved from
    origin: dict[int, Any] = field(default_factory=dict)
    _keep: list[Any] = field(default_factory=list)  # the carried objects (ids stay valid)
    # (the statements `statements` returned, their literal starts, their dedupe keys): what
    # the model's bookkeeping reads of them, taken once (model._literal_starts_and_keys)
    literals: tuple[list[Any], list[int], list[Any]] | None = None
    # the region holds top-level declarations of string constants (`_constant_names`): calls
    # outside it may run their literals (`statements` reads those calls again)
    constants: bool = False
    # the names of the string constants the region declares (`constant_names`), once asked
    _names: frozenset[str] | None = None

    def outside(self, node: Node) -> bool:
        """An old node lies before or after the region (not inside, not around it)."""
        return node.end_byte <= self.lo or node.start_byte >= self.hi

    def relocate(self, node: Node) -> Node:
        """The node of the new tree that is `node` of the old one (before, after or around the
        region): the same type at the shifted range."""
        start, end = node.start_byte, node.end_byte
        if end <= self.lo:
            pass
        elif start >= self.hi:
            start, end = start + self.delta, end + self.delta
        elif start <= self.lo and end >= self.hi:
            end += self.delta
        else:
            raise NoSplice("a node inside the region")
        found: Node | None = self.new.root.descendant_for_byte_range(start, end)
        kind, named = node.type, node.is_named
        while found is not None and found.start_byte == start and found.end_byte == end:
            if found.type == kind and found.is_named == named:
                return found
            found = found.parent
        raise NoSplice(f"{kind} not found again")

    def read(self, extract: Callable[[Node], list[T]]) -> list[T]:
        """`extract` of each member of the region of the new tree, in order."""
        found: list[T] = []
        for member in self.members_new:
            found.extend(extract(member))
        return found

    def carried(self, old: Any, new: T) -> T:
        self.origin[id(new)] = old
        self._keep.append(new)
        return new

    def old_of(self, new: Any) -> Any:
        return self.origin.get(id(new))


def splice_of(file: SourceFile) -> Splice | None:
    """The splice of a re-parsed file from its previous version, or None (computed once)."""
    if "splice" in file.memo:
        return file.memo["splice"]  # type: ignore[no-any-return]
    found: Splice | None = None
    previous = file.memo.get("previous")
    if previous is not None:
        try:
            found = _make(previous, file)
        except NoSplice as exc:
            file.memo["no_splice"] = str(exc)  # why (tests and profiles read it)
        except OverBudget:
            raise
        except Exception as exc:  # a bug: the whole file is extracted (tests count these)
            COUNTS["failed"] += 1
            file.memo["no_splice"] = f"internal error: {exc!r}"
    file.memo["splice"] = found
    if found is not None:
        _carry_memos(found)
    return found


# the top-level statements a region may hold: none that another part of the file reads by
# walking the top level (imports, exports, declarations of constants and classes), and the
# declarations of string constants `_constant_names` accepts (whose readers `statements` finds)
TOP_LEVEL = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "comment",
        "expression_statement",
        "empty_statement",
    }
)


def _container(root: Node, start: int, end: int) -> tuple[int, int]:
    """(index of the top-level statement, index of the class inside it: -1 for the class
    itself) of the top-level class whose body strictly holds start..end; (-1, -1) when there is
    none (the region is then one of the top level)."""
    statements = root.named_children
    index = bisect.bisect_right(statements, start, key=_start_of) - 1
    if index < 0:
        return -1, -1
    stmt = statements[index]
    if stmt.type in CLASS_TYPES:
        candidates = [(-1, stmt)]
    elif stmt.type == "export_statement":
        candidates = list(enumerate(stmt.named_children))
    else:
        return -1, -1
    for number, child in candidates:
        body = child.child_by_field_name("body") if child.type in CLASS_TYPES else None
        if body is not None and body.start_byte < start and end < body.end_byte:
            return index, number
    return -1, -1


def _body(root: Node, where: tuple[int, int]) -> tuple[Node, Node]:
    stmt = root.named_child(where[0])
    cls = stmt if stmt is None or where[1] < 0 else stmt.named_child(where[1])
    body = cls.child_by_field_name("body") if cls is not None else None
    if cls is None or body is None or cls.type not in CLASS_TYPES:
        raise NoSplice("no class there")
    return cls, body


def _make(previous: Any, new: SourceFile) -> Splice:
    old: SourceFile = previous.file
    start, old_end, new_end = previous.start, previous.old_end, previous.new_end
    delta = new_end - old_end
    if old.lang != new.lang:
        raise NoSplice("another grammar")
    if old.root.named_child_count != new.root.named_child_count:
        where = (-1, -1)  # a top-level statement more or less: the top level is the container
    else:
        where = _container(old.root, start, old_end)
    if where[0] >= 0:
        cls_old, container_old = _body(old.root, where)
        cls_new, container_new = _body(new.root, where)
        if cls_new.type != cls_old.type or (cls_new.start_byte, cls_new.end_byte) != (
            cls_old.start_byte,
            cls_old.end_byte + delta,
        ):
            raise NoSplice("the class moved")
        inner = (container_old.start_byte + 1, container_old.end_byte - 1)  # inside { }
        allowed = None
        relevant = _alias_values(old, cls_old)
        container_old = _listed_body(old, container_old)
    else:
        container_old, container_new = old.root, new.root
        inner = (0, len(old.data))
        allowed = TOP_LEVEL
        relevant = set()  # no class: assignments there make no alias
    members_old = container_old.named_children
    members_new = container_new.named_children
    # members ending at or before the edit, and starting at or after it (both sorted)
    lead = bisect.bisect_right(members_old, start, key=_end_of)
    tail = len(members_old) - bisect.bisect_left(members_old, old_end, key=_start_of)
    if lead + tail > len(members_old):
        raise NoSplice("members overlap the edit")
    lead, tail = _unchanged_sides(members_old, members_new, lead, tail, delta)
    lo = members_old[lead - 1].end_byte if lead else inner[0]
    hi = members_old[len(members_old) - tail].start_byte if tail else inner[1]
    if lead + tail < len(members_old):  # the region's members lie in it (a missing `}` …)
        lo = min(lo, members_old[lead].start_byte)
        hi = max(hi, members_old[len(members_old) - tail - 1].end_byte)
    if not (lo <= start and old_end <= hi):
        raise NoSplice("the edit crosses the region")
    for changed_start, changed_end in previous.changed:
        if changed_start < lo or changed_end > hi + delta:
            raise NoSplice("the syntax changed outside the region")
    region_old = members_old[lead : len(members_old) - tail]
    region_new = members_new[lead : len(members_new) - tail]
    heads = []
    # the names each top-level declaration of string constants in the region declares (a
    # list per side: the same declarations, the same names, in order)
    constants: list[list[tuple[str, ...]]] = []
    for file, members in ((old, region_old), (new, region_new)):
        found = []
        declared: list[tuple[str, ...]] = []
        for member in members:
            if allowed is not None and member.type not in allowed:
                names = _constant_names(file, member)
                if names is None:
                    raise NoSplice(f"a top-level {member.type}")
                declared.append(names)
            if _is_constructor(file, member):
                found.append(_constructor_head(file, member))
        heads.append(found)
        constants.append(declared)
    if constants[0] != constants[1]:
        raise NoSplice("other constants declared")
    if constants[0]:
        _read_by_every_caller(old, region_old)
    if heads[0] != heads[1]:
        # find_classes reads the constructor's parameters (the legacy `state` parameter, the
        # first parameter as a seed of the aliases); its body only through the alias
        # assignments and typed parameters that `_facts` compares below
        raise NoSplice("the constructor's parameters")
    notes: tuple[list[Any], list[Any]] | None = None
    if not _facts_untouched(previous, new, lo, hi, region_old, region_new):
        facts_old, facts_new = _facts(old, region_old, relevant), _facts(new, region_new, relevant)
        if facts_old[:3] != facts_new[:3]:
            raise NoSplice("the region states other facts")
        if facts_old[3] != facts_new[3]:
            # only the type notes (a parameter's or a field's type being typed): they feed the
            # file's declared types alone, which the splice patches (`_carry_memos`) and the
            # full wrapper summary reads (`wrappers` then reads the whole file again)
            notes = (facts_old[3], facts_new[3])
    container = container_new if where[0] >= 0 else None
    made = Splice(old, new, lo, hi, delta, region_old, region_new, container, notes=notes)
    made.constants = bool(constants[0])
    return made


def _constant_names(file: SourceFile, member: Node) -> tuple[str, ...] | None:
    """The names a top-level `const A = "…", B = `…`;` (or `export const …`) declares when
    every value is a string, or a template without a substitution; None for any other
    statement (`let`, another value, `${…}` in a template: what another part of the file may
    read of it is then more than the names and the literals' texts, see `statements`)."""
    decl: Node | None = member
    if member.type == "export_statement":
        decl = member.child_by_field_name("declaration")
    if decl is None or decl.type != "lexical_declaration" or member.has_error:
        return None
    keyword = decl.child(0)
    if keyword is None or keyword.type != "const":
        return None
    names: list[str] = []
    for child in decl.named_children:
        if child.type == "comment":
            continue
        if child.type != "variable_declarator":
            return None
        name, value = child.child_by_field_name("name"), child.child_by_field_name("value")
        if name is None or value is None or name.type != "identifier":
            return None
        if value.type == "template_string":
            if any(part.type == "template_substitution" for part in value.children):
                return None
        elif value.type != "string":
            return None
        names.append(node_text(file.data, name))
    return tuple(names) if names else None


def _read_by_every_caller(old: SourceFile, members: list[Node]) -> None:
    """Every call that runs a constant of the region (the previous version's) has a statement
    whose literal is that constant's (`statements` finds the calls to read again from those):
    NoSplice when a constant's text holds no SQL statement (a call running it then has none)."""
    for member in members:
        for _, value in constant_declarations(old, member):
            if not split_statements(literal_chars(old.data, value)[0]):
                raise NoSplice("a constant without SQL in it")


# how many members next to the edit on each side may join the region because they changed
# with it; past that the edit changed the class's shape (an unclosed `{` takes every member after
# it) and the whole file is read again
MAX_JOINED = 8


def _same_member(old: Node, new: Node, shift: int) -> bool:
    return (
        old.type == new.type
        and old.start_byte + shift == new.start_byte
        and old.end_byte + shift == new.end_byte
    )


def _unchanged_sides(
    members_old: list[Node], members_new: list[Node], lead: int, tail: int, delta: int
) -> tuple[int, int]:
    """`lead` members before the edit and `tail` after it, fewer where the members next to the
    edit are not the same node in both versions (the same type and range, shifted after it):
    those join the region. Typing passes through such shapes all the time: a member ending
    where the edit starts takes the typed text in (`he` -> `hel`, a field growing), a member
    after the edit is taken into a half-typed one (`helper():` followed by the next method is
    one method with an error) or split from it again. Only the members next to the region are
    compared: the tree's changed ranges (checked by the caller) must then lie in the region."""
    old_count, new_count = len(members_old), len(members_new)
    joined = 0
    while lead and (
        lead > new_count or not _same_member(members_old[lead - 1], members_new[lead - 1], 0)
    ):
        lead -= 1
        joined += 1
        if joined > MAX_JOINED:
            raise NoSplice("the members before the edit changed")
    joined = 0
    while tail and (
        lead + tail > new_count
        or not _same_member(members_old[old_count - tail], members_new[new_count - tail], delta)
    ):
        tail -= 1
        joined += 1
        if joined > MAX_JOINED:
            raise NoSplice("the members after the edit changed")
    return lead, tail


# the nodes whose subtrees `_read_facts` reads (each fact is the text and shape of one of
# them: alias pairs, typed parameters, string constants, type notes), and the class types
# whose presence it refuses
FACT_TYPES = frozenset(
    {
        "assignment_expression",
        "variable_declarator",
        "public_field_definition",
        "required_parameter",
        "optional_parameter",
        *CLASS_TYPES,
    }
)
_FACTS_WALK_LIMIT = 48  # nodes below the edit looked at; more: the facts are read instead

FACTS_UNTOUCHED_COUNTS = {"untouched": 0, "read": 0}  # how _make compared (tests read it)


def _facts_untouched(
    previous: Any,
    new: SourceFile,
    lo: int,
    hi: int,
    region_old: list[Node],
    region_new: list[Node],
) -> bool:
    """The region's facts are the same before and after the edit, found without reading them:
    no node of FACT_TYPES in either tree meets the edit or a range whose syntax changed, but
    in subtrees the new tree reused from the old one. Every fact is the text and shape of one
    such node's subtree (`_read_facts`, in pre-order); bytes outside the edit are the same,
    outside the changed ranges (`Tree.changed_ranges`, which the splice already trusts for the
    region) the trees have the same nodes, and a subtree the incremental parse reused keeps its
    `Node.id` (tree-sitter's documented promise: the same subtree, hence the same shape and,
    away from the edit, the same text). So the fact nodes of both trees pair up one by one and
    the facts are equal. False (read and compare them) when unsure: a syntax error in the
    region, members added or removed, the word `class` in it, or more than a few nodes to look
    at."""
    old: SourceFile = previous.file
    if (
        len(region_old) != len(region_new)
        or any(
            a.type != b.type or a.has_error or b.has_error
            for a, b in zip(region_old, region_new, strict=True)
        )
        # `_read_facts` refuses a class anywhere in the region (NoSplice), which the word
        # rules out: every class node holds its `class` keyword
        or any(old.data.find(b"class", m.start_byte, m.end_byte) >= 0 for m in region_old)
        or any(new.data.find(b"class", m.start_byte, m.end_byte) >= 0 for m in region_new)
    ):
        FACTS_UNTOUCHED_COUNTS["read"] += 1
        return False
    start, old_end, new_end = previous.start, previous.old_end, previous.new_end
    delta = new_end - old_end
    new_zones = [(start, new_end), *previous.changed]
    old_zones = [(start, old_end)]
    for changed_start, changed_end in previous.changed:
        # the same places in the old tree (a range meeting the edit holds all of its old bytes)
        old_zones.append(
            (
                changed_start
                if changed_start <= start
                else (changed_start - delta if changed_start >= new_end else start),
                changed_end
                if changed_end <= start
                else (changed_end - delta if changed_end >= new_end else old_end),
            )
        )
    # (tree, its zones, the region's end there, the other tree, the shift to it, the edit
    # there: a node meeting it is never one the other tree shares)
    sides = (
        (old.root, old_zones, hi, new.root, delta, old_end),
        (new.root, new_zones, hi + delta, old.root, -delta, new_end),
    )
    for root, zones, top, other, shift, edit_end in sides:
        for zone_start, zone_end in zones:
            if not _untouched(root, zone_start, zone_end, lo, top, other, shift, start, edit_end):
                FACTS_UNTOUCHED_COUNTS["read"] += 1
                return False
    FACTS_UNTOUCHED_COUNTS["untouched"] += 1
    return True


def _untouched(
    root: Node,
    start: int,
    end: int,
    lo: int,
    hi: int,
    other: Node,
    shift: int,
    edit_start: int,
    edit_end: int,
) -> bool:
    """No node of FACT_TYPES inside the region lo..hi of `root`'s tree meets start..end, but
    in subtrees the `other` tree shares: the smallest node holding start..end and its
    ancestors up to the region's member are looked at, then its descendants, skipping every
    subtree whose node is in the other tree at the same place (shifted past the edit) with
    the same id. (A node meeting a range holds the smallest node around it or lies below it.)"""
    found = root.descendant_for_byte_range(start, end)
    if found is None:
        return False
    node: Node | None = found
    while node is not None and lo <= node.start_byte and node.end_byte <= hi:
        if node.type in FACT_TYPES:
            return False
        node = node.parent
    if node is None:
        return False
    stack = list(found.children)
    looked = 0
    while stack:
        below = stack.pop()
        below_start, below_end = below.start_byte, below.end_byte
        if below_end <= edit_start or below_start >= edit_end:  # away from the edit
            if below_start >= edit_end:
                below_start, below_end = below_start + shift, below_end + shift
            twin = other.descendant_for_byte_range(below_start, below_end)
            while (
                twin is not None
                and twin.start_byte == below_start
                and twin.end_byte == below_end
                and twin.id != below.id
            ):
                twin = twin.parent
            if (
                twin is not None
                and twin.id == below.id
                and twin.start_byte == below_start
                and twin.end_byte == below_end
            ):
                continue  # the same subtree in both trees
        looked += 1
        if looked > _FACTS_WALK_LIMIT or below.type in FACT_TYPES:
            return False
        stack.extend(below.children)
    return True


def _is_constructor(file: SourceFile, member: Node) -> bool:
    if member.type != "method_definition":
        return False
    name = member.child_by_field_name("name")
    return name is not None and node_text(file.data, name) == "constructor"


def _constructor_head(file: SourceFile, member: Node) -> bytes:
    """The constructor's text up to its body (modifiers, name, parameters and their types)."""
    body = member.child_by_field_name("body")
    return file.data[member.start_byte : body.start_byte if body is not None else member.end_byte]


def _listed_body(old: SourceFile, body: Node) -> Node:
    """The previous version's class body `body` as the Node object its class keeps (whose
    children tree-sitter listed already, when the class was carried or read), else `body`."""
    entries = old.memo.get("model:classes")
    for cls in next(reversed(entries.values())) if entries else ():
        kept = cls.__dict__.get("body")
        if kept is not None and (kept.start_byte, kept.end_byte) == (
            body.start_byte,
            body.end_byte,
        ):
            return kept  # type: ignore[no-any-return]
    return body


def _alias_values(old: SourceFile, cls_node: Node) -> set[str] | None:
    """The alias spellings of the Durable Object class declared by `cls_node` in the previous
    version (its own, before a base class's are merged in), or None when it is no such class.

    derive_aliases reads an assignment, declarator or field only when its value is one of the
    aliases found so far (always among the final ones). So a region whose pairs with such a
    value are the same before and after gives the class the same aliases, whatever else its
    assignments say (`const cursor = this.ctx.storage.sql.exec(…)` edited is no alias). A
    class that is not a Durable Object reads assignments otherwise (sqlwrappers._class_aliases):
    every pair counts there."""
    entries = old.memo.get("model:classes")
    last = next(reversed(entries.values())) if entries else ()
    for cls in last:
        if cls.node.start_byte == cls_node.start_byte and cls.node.end_byte == cls_node.end_byte:
            own = cls.__dict__.get("_own_aliases", cls.aliases)
            return set(own.ctx) | set(own.storage) | set(own.sql)
    return None


def _facts(
    file: SourceFile, members: list[Node], relevant: set[str] | None
) -> tuple[list[Any], ...]:
    """What the rest of the file reads of the members of a region, as text. `relevant`: the
    alias values that count (None: all). Kept in the file's memo by the members' places: the
    next keystroke in the same member reads them again as its previous version's."""
    key = (
        tuple((m.start_byte, m.end_byte) for m in members),
        None if relevant is None else frozenset(relevant),
    )
    kept: dict[Any, tuple[list[Any], ...]] = file.memo.setdefault("splice:facts", {})
    found = kept.get(key)
    if found is None:
        found = _facts_of_texts(file, members, relevant)
        if len(kept) >= 4:
            kept.pop(next(iter(kept)))
        kept[key] = found
    return found


# the facts of a region's members by their texts (and types), for a region typed again: a
# letter typed and deleted, an undo (the facts are names and texts read from the members'
# subtrees, which a member's text decides where it parses without an error); a few kept
_FACTS_BY_TEXT: OrderedDict[Hashable, tuple[list[Any], ...]] = OrderedDict()
_FACTS_BY_TEXT_MAX = 16


def _facts_of_texts(
    file: SourceFile, members: list[Node], relevant: set[str] | None
) -> tuple[list[Any], ...]:
    if any(m.has_error for m in members):
        return _read_facts(file, members, relevant)
    data = file.data
    key = (
        tuple((m.type, data[m.start_byte : m.end_byte]) for m in members),
        None if relevant is None else frozenset(relevant),
    )
    found = _FACTS_BY_TEXT.get(key)
    if found is not None:
        _FACTS_BY_TEXT.move_to_end(key)
        FACTS_COUNTS["by text"] += 1
        return found
    found = _read_facts(file, members, relevant)  # NoSplice: nothing kept
    FACTS_COUNTS["read"] += 1
    _FACTS_BY_TEXT[key] = found
    while len(_FACTS_BY_TEXT) > _FACTS_BY_TEXT_MAX:
        _FACTS_BY_TEXT.popitem(last=False)
    return found


FACTS_COUNTS = {"by text": 0, "read": 0}  # how _facts_of_texts found them (tests read it)


def _read_facts(
    file: SourceFile, members: list[Node], relevant: set[str] | None
) -> tuple[list[Any], ...]:
    data = file.data
    aliases: list[Any] = []
    params: list[Any] = []
    constants: list[str] = []
    types: list[Any] = []
    for member in members:
        if next(iter(walk_type(member, *CLASS_TYPES)), None) is not None:
            raise NoSplice("a class inside the region")
        for target, value, is_field in alias_pairs(member):
            value_text = node_text(data, value)
            if relevant is None or normalize_expr(value_text) in relevant:
                aliases.append((target.type, node_text(data, target), value_text, is_field))
        params += state_param_names(file, member)
        constants += [name for name, _ in constant_declarations(file, member)]
        types += type_notes(file, member)
    return aliases, params, constants, types


def _carry_memos(splice: Splice) -> None:
    """Per-file facts the member does not change, carried to the new file's memo."""
    old, new = splice.old.memo, splice.new.memo
    for name in ("class_heads", "typed_state_params"):
        if name in old and name not in new:
            new[name] = old[name]
    if "declared_types" in old and "declared_types" not in new:
        if splice.notes is None:
            new["declared_types"] = old["declared_types"]
            if "declared_type_counts" in old:
                new["declared_type_counts"] = old["declared_type_counts"]
        elif "declared_type_counts" in old:
            counts = counts_after(old["declared_type_counts"], *splice.notes)
            new["declared_type_counts"] = counts
            new["declared_types"] = declared_from_counts(counts)
        # else: read from the whole new file when asked
    constants = old.get("string_constants")
    if constants is not None and "string_constants" not in new:
        inside: dict[str, Node] = {}
        for name, value in splice.read(lambda m: constant_declarations(splice.new, m)):
            inside.setdefault(name, value)
        # else computed from the whole file when first asked
        with contextlib.suppress(NoSplice, KeyError):
            new["string_constants"] = {
                name: splice.relocate(value) if splice.outside(value) else inside[name]
                for name, value in constants.items()
            }


# -- the results -------------------------------------------------------------------------------


def _last(splice: Splice, name: str) -> tuple[Any, Any] | None:
    """(key, value) of the per_file result `name` the previous version's last model used (the
    last entry of `analyzers.model.per_file`'s entries, which are in the order of use)."""
    entries: dict[Any, Any] | None = splice.old.memo.get(f"model:{name}")
    return next(reversed(entries.items())) if entries else None


def _old_classes(splice: Splice, classes: list[DurableObjectClass]) -> tuple[Any, ...] | None:
    """The previous version's class objects the given (carried) ones were moved from."""
    found = tuple(splice.old_of(c) for c in classes)
    return None if any(c is None for c in found) else found


def spliced(splice: Splice | None, compute: Callable[[Splice], T | None]) -> T | None:
    """`compute(splice)`, or None when there is no splice or it cannot follow the edit."""
    if splice is None:
        return None
    try:
        result = compute(splice)
    except NoSplice:
        result = None
    except OverBudget:
        raise  # the file, not the splice: analyse_within_budget skips it
    except Exception:  # a bug here must not cost the user the analysis: the whole file instead
        COUNTS["failed"] += 1
        return None
    COUNTS["spliced" if result is not None else "whole"] += 1
    return result


def classes(splice: Splice, entries: dict[Any, Any], key: Any) -> list[DurableObjectClass] | None:
    """find_classes of the new file from the previous version's result for the same key
    (`entries`: the previous file's per_file entries; the key is names only)."""
    old_list = entries.get(key)
    if old_list is None:
        return None
    found: list[DurableObjectClass] = []
    for cls in old_list:
        node = splice.relocate(cls.node)
        body = node.child_by_field_name("body")
        if body is None:
            raise NoSplice("a class without a body")
        container = splice.container
        if container is not None and (container.start_byte, container.end_byte) == (
            body.start_byte,
            body.end_byte,
        ):
            body = container  # the same node, whose children the splice listed already
        methods, method_entries = _carried_methods(splice, cls, body)
        moved = DurableObjectClass(
            name=cls.name,
            file=splice.new,
            node=node,
            name_node=splice.relocate(cls.name_node),
            base=cls.base,
            reason=cls.reason,
            methods=methods,
            aliases=cls.__dict__.get("_own_aliases", cls.aliases),
            exported=cls.exported,
        )
        moved.__dict__[_METHOD_ENTRIES] = method_entries
        moved.__dict__["body"] = body  # DurableObjectClass.body, with its children listed
        found.append(splice.carried(cls, moved))
    return found


# a class version's body: (the start of each member, (member index, name, whether the method is
# the member's value) of each member defining a method), in the class's __dict__
_METHOD_ENTRIES = "_method_entries"
MethodEntries = tuple[list[int], list[Any]]


def _method_entries(file: SourceFile, children: list[Node], first: int = 0) -> list[Any]:
    found: list[Any] = []
    for index, member in enumerate(children, first):
        entry = method_entry(file, member)
        if entry is not None:
            found.append((index, entry[0], entry[1]))
    return found


def _carried_methods(
    splice: Splice, old: DurableObjectClass, body: Node
) -> tuple[dict[str, Node], MethodEntries]:
    """class_methods of the moved class (`body`: its body in the new tree): the members before
    and after the region are the previous version's (the same names, the same indices among
    the body's children, shifted after it), the region's read again; the map is then built
    from the new children by index (no text read, no field looked up but a method value's)."""
    known: MethodEntries | None = old.__dict__.get(_METHOD_ENTRIES)
    if known is None:
        old_body = old.node.child_by_field_name("body")
        old_children = old_body.named_children if old_body is not None else []
        known = (
            [m.start_byte for m in old_children],
            _method_entries(splice.old, old_children),
        )
    starts, entries = known
    children = body.named_children
    lo, hi, delta = splice.lo, splice.hi, splice.delta
    lead = bisect.bisect_left(starts, lo)
    tail = len(starts) - bisect.bisect_left(starts, hi)
    inside = len(children) - lead - tail
    if (
        inside < 0
        or (lead and children[lead - 1].start_byte != starts[lead - 1])
        or (
            tail and children[len(children) - tail].start_byte != starts[len(starts) - tail] + delta
        )
    ):
        # not the members the splice compared (cannot happen for a class it carried): read all
        starts = [m.start_byte for m in children]
        entries = _method_entries(splice.new, children)
    else:
        region = children[lead : lead + inside]
        after = len(starts) - tail
        shift = inside - (after - lead)
        # the entries are in index order: those before and after the region are slices
        first = bisect.bisect_left(entries, lead, key=_entry_index)
        last = bisect.bisect_left(entries, after, key=_entry_index)
        moved = entries[:first]
        moved += _method_entries(splice.new, region, lead)
        if shift:
            moved += [(i + shift, name, value) for i, name, value in entries[last:]]
        else:
            moved += entries[last:]
        entries = moved
        kept = starts[after:]
        starts = starts[:lead] + [m.start_byte for m in region]
        starts += map(delta.__add__, kept) if delta else kept
    return _methods_of(children, entries), (starts, entries)


_entry_index = operator.itemgetter(0)
_entry_name = operator.itemgetter(1)
_entry_value = operator.itemgetter(2)


def _methods_of(children: list[Node], entries: list[Any]) -> dict[str, Node]:
    """class_methods from the entries (member index, name, whether the method is the
    member's value): the first member of each name. Built at C speed when no name repeats
    (a class's ~600 members every keystroke), the values' methods looked up after."""
    names = list(map(_entry_name, entries))
    methods = dict(zip(names, map(children.__getitem__, map(_entry_index, entries)), strict=True))
    if len(methods) == len(entries):
        for _, name, _ in itertools.compress(entries, map(_entry_value, entries)):
            methods[name] = methods[name].child_by_field_name("value")
        return methods
    methods = {}
    for index, name, value in entries:
        if name not in methods:
            member = children[index]
            methods[name] = member.child_by_field_name("value") if value else member
    return methods


def _class_map(
    splice: Splice, classes: list[DurableObjectClass], old_classes: tuple[Any, ...]
) -> dict[int, DurableObjectClass]:
    back = _old_classes(splice, classes)
    if back is None or len(back) != len(old_classes):
        raise NoSplice("other classes")
    if any(a is not b for a, b in zip(back, old_classes, strict=True)):
        raise NoSplice("other classes")
    return {id(old): new for old, new in zip(back, classes, strict=True)}


_STATEMENT_FIELDS = tuple(f.name for f in dataclasses.fields(SqlStatement))
_statement_values = operator.itemgetter(*_STATEMENT_FIELDS)
# memos of rules on a statement that are functions of its content (its text, kind, method,
# whether it is loose: what a moved statement keeps) and of the catalogue they name in their
# key: carried to the moved statement (rules/_sql.py). Any other memo starts afresh.
CONTENT_MEMOS = (
    "kind",  # SqlStatement.kind, a cached property
    "_inserted_table",
    "_delete_kinds",
    "_dynamic_delete",
    "_bounded_key_insert",
    "_growth_fact",  # sql_unbounded_read.GROWTH_FACT
)


_LINEAGES = itertools.count(1)


def lineage(stmt: SqlStatement) -> int:
    """A number a statement shares with the statement the splice moved it from, and with the
    ones it is moved to in later versions (the key `_lineage`, copied by a move like the
    content memos): equal numbers mean the same text, method, loose flag, file path and
    content memos, whatever the places. Kept indexes (unbounded-table-growth's GrowthIndex)
    key their facts on it, so a statement moved by an edit above it costs them nothing."""
    d = stmt.__dict__
    token = d.get("_lineage")
    if token is None:
        token = d["_lineage"] = next(_LINEAGES)
    return token  # type: ignore[no-any-return]


def new_lineage(stmt: SqlStatement) -> int:
    """A new lineage for `stmt` (it no longer shares its facts with any other statement)."""
    token = stmt.__dict__["_lineage"] = next(_LINEAGES)
    return token


# (start, end, type, is_named) of a node of a file: found again in a later version's tree
Place = tuple[int, int, str, bool]


def _place(node: Node) -> Place:
    return node.start_byte, node.end_byte, node.type, node.is_named


def _found(file: SourceFile, place: Place) -> Node:
    start, end, kind, named = place
    found: Node | None = file.root.descendant_for_byte_range(start, end)
    while found is not None and found.start_byte == start and found.end_byte == end:
        if found.type == kind and found.is_named == named:
            return found
        found = found.parent
    COUNTS["failed"] += 1  # the splice's checks should make this impossible (tests count it)
    raise LookupError(f"{kind} at {start}..{end} not found in {file.path}")


class MovedStatement(SqlStatement):
    """A statement of the previous version outside the edited region, moved to the new
    version without touching its nodes and offsets: `call`, `literal` and `offsets` are found
    in the new tree (and shifted) when a rule first asks for them, from their places kept as
    numbers (`_moved`: call place, literal place (None: the call), the offsets as extracted
    and the shift since). Most statements of a big file are asked for none of them on a
    keystroke; moving one again before anyone asked adds to its shift, so no older tree is
    kept alive. Its `file` and `call_file` are the new version."""

    @property  # type: ignore[override]
    def call(self) -> Node:
        d = self.__dict__
        node = d.get("call")
        if node is None:
            node = d["call"] = _found(self.call_file, d["_moved"][0])
        return node  # type: ignore[no-any-return]

    @call.setter
    def call(self, value: Node) -> None:
        self.__dict__["call"] = value

    @property  # type: ignore[override]
    def literal(self) -> Node:
        d = self.__dict__
        node = d.get("literal")
        if node is None:
            place = d["_moved"][1]
            node = d["literal"] = self.call if place is None else _found(self.file, place)
        return node  # type: ignore[no-any-return]

    @literal.setter
    def literal(self, value: Node) -> None:
        self.__dict__["literal"] = value

    @property  # type: ignore[override]
    def offsets(self) -> list[int]:
        d = self.__dict__
        found = d.get("offsets")
        if found is None:
            _, _, base, shift = d["_moved"]
            found = d["offsets"] = list(map(shift.__add__, base)) if shift else base
        return found  # type: ignore[no-any-return]

    @offsets.setter
    def offsets(self, value: list[int]) -> None:
        self.__dict__["offsets"] = value

    def call_place(self) -> tuple[int, int, str]:
        d = self.__dict__
        if "call" in d:
            return super().call_place()
        start, end, kind, _ = d["_moved"][0]
        return start, end, kind

    def literal_start(self) -> int:
        d = self.__dict__
        if "literal" in d:
            return super().literal_start()
        place = d["_moved"][1]
        return d["_moved"][0][0] if place is None else place[0]  # type: ignore[no-any-return]

    def offsets_ends(self) -> tuple[int, int, int] | None:
        d = self.__dict__
        if "offsets" in d:
            return super().offsets_ends()
        _, _, base, shift = d["_moved"]
        return (base[0] + shift, base[-1] + shift, len(base)) if base else None


# the dataclass fields a moved statement copies as they are
_PLAIN_FIELDS = tuple(f for f in _STATEMENT_FIELDS if f not in ("call", "literal", "offsets"))
_plain_values = operator.itemgetter(*_PLAIN_FIELDS)


# the keys of a statement's __dict__ a move keeps: the dataclass fields but its nodes and
# offsets (found again, shifted), the content memos, and the places of a moved one
_CARRIED_KEYS = (
    frozenset(_PLAIN_FIELDS) | frozenset(CONTENT_MEMOS) | {"_moved", "_lineage", "_size"}
)


def _move_lazily(
    splice: Splice, stmt: SqlStatement, by_class: dict[int, DurableObjectClass]
) -> SqlStatement:
    """A statement of the old file (its SQL and its call there), moved: a MovedStatement."""
    d = stmt.__dict__
    lo, hi, delta = splice.lo, splice.hi, splice.delta
    kept = d.get("_moved")
    if kept is not None and "call" not in d and "literal" not in d and "offsets" not in d:
        # moved before and never asked: the places as numbers, shifted once more
        call_place, literal_place, base, shift = kept
    else:
        call, literal = stmt.call, stmt.literal
        call_place = _place(call)
        literal_place = None if literal is call else _place(literal)
        base, shift = stmt.offsets, 0
    literal_after = (call_place if literal_place is None else literal_place)[0] >= hi
    # the dict copied at C speed, then what a move does not keep taken out (the nodes and
    # offsets when asked, other rules' memos): the same keys as copying the fields one by one
    md = d.copy()
    if len(d) != d.get("_size"):  # keys were added since it was moved (no key is deleted)
        for name in md.keys() - _CARRIED_KEYS:
            del md[name]
    md["file"] = md["call_file"] = splice.new
    start, end, kind, named = call_place
    if start >= hi:
        call_place = start + delta, end + delta, kind, named
    elif end > lo:
        raise NoSplice("a node inside the region")
    if literal_place is not None:
        start, end, kind, named = literal_place
        if start >= hi:
            literal_place = start + delta, end + delta, kind, named
        elif end > lo:
            raise NoSplice("a node inside the region")
    if literal_after and delta:
        shift += delta
        if stmt.substitutions:
            md["substitutions"] = [
                Substitution(s.sql_offset, s.ts_start + delta, s.ts_end + delta, s.expression)
                for s in stmt.substitutions
            ]
    md["_moved"] = (call_place, literal_place, base, shift)
    if stmt.cls is not None:
        cls = by_class.get(id(stmt.cls))
        if cls is None:
            raise NoSplice("a statement of another class")
        md["cls"] = cls
    if "_size" not in md:
        md["_size"] = 0
    md["_size"] = len(md)  # what it holds now: all carried keys
    moved = MovedStatement.__new__(MovedStatement)
    moved.__dict__ = md
    splice.origin[id(moved)] = stmt
    splice._keep.append(moved)
    return moved


def _move_statement(
    splice: Splice, stmt: SqlStatement, by_class: dict[int, DurableObjectClass]
) -> SqlStatement:
    old = splice.old
    if stmt.file is old and stmt.call_file is old:
        return _move_lazily(splice, stmt, by_class)
    moved = SqlStatement.__new__(SqlStatement)
    # the dataclass's fields, and the memos of rules that follow from its content
    moved.__dict__.update(zip(_STATEMENT_FIELDS, _statement_values(stmt.__dict__), strict=True))
    memos = stmt.__dict__
    for name in (*CONTENT_MEMOS, "_lineage"):
        if name in memos:
            moved.__dict__[name] = memos[name]
    old = splice.old
    if stmt.call_file is old:
        moved.call_file = splice.new
        moved.call = splice.relocate(stmt.call)
    if stmt.file is old:
        moved.file = splice.new
        moved.literal = (
            moved.call
            if stmt.literal is stmt.call and stmt.call_file is old
            else splice.relocate(stmt.literal)
        )
        if stmt.literal.start_byte >= splice.hi and splice.delta:
            delta = splice.delta
            moved.offsets = [o + delta for o in stmt.offsets]
            moved.substitutions = [
                Substitution(s.sql_offset, s.ts_start + delta, s.ts_end + delta, s.expression)
                for s in stmt.substitutions
            ]
    if stmt.cls is not None:
        cls = by_class.get(id(stmt.cls))
        if cls is None:
            raise NoSplice("a statement of another class")
        moved.cls = cls
    return splice.carried(stmt, moved)


def statements(
    splice: Splice,
    classes: list[DurableObjectClass],
    imported_key: Any,
    wrapped: dict[int, Any],
    extract: Callable[[Node], list[SqlStatement]],
) -> list[SqlStatement] | None:
    """extract_statements of the new file: the previous version's statements outside the
    member, moved, and `extract(member)` for the statements of the member.

    The model's bookkeeping then needs each statement's literal start and dedupe key
    (model._literal_starts_and_keys): those of the moved ones are read here, in the same pass,
    and left on the splice (`literals`) with the list they belong to."""
    last = _last(splice, "statements")
    if last is None:
        return None
    key, old_list = last
    by_class = _class_map(splice, classes, key[0])
    if key[1] != imported_key:
        return None
    if _outside_map(splice, dict(key[2])) != _inside_out(splice, wrapped):
        return None
    before: list[SqlStatement] = []
    after: list[SqlStatement] = []
    # (literal start, dedupe key) of each moved statement, in the order of before / after
    starts_before: list[int] = []
    starts_after: list[int] = []
    keys_before: list[tuple[Any, int, int]] = []
    keys_after: list[tuple[Any, int, int]] = []
    lo, hi, delta = splice.lo, splice.hi, splice.delta
    old, new = splice.old, splice.new
    path = new.path
    origin = splice.origin
    keep = splice._keep.extend
    make = MovedStatement.__new__
    # the calls outside the region read again (`_calls_to_read_again`: old places), and the
    # one read last (its other statements are among those it gave)
    redo = _calls_to_read_again(splice, old_list)
    redone = (-1, -1)
    try:
        for stmt in old_list:
            d = stmt.__dict__
            kept = d.get("_moved")
            if (
                kept is not None
                and "call" not in d
                and "literal" not in d
                and "offsets" not in d
                and len(d) == d["_size"]
                and d["file"] is old
                and d["call_file"] is old
            ):
                # a statement moved before that nobody asked since, holding no other keys: what
                # _move_lazily does, inline (~300 of them a keystroke in a big file)
                call_place, literal_place, base, shift = kept
                start, end = call_place[0], call_place[1]
                place = literal_place or call_place
                if end <= lo:
                    into, starts, keys = before, starts_before, keys_before
                elif start >= hi:
                    into, starts, keys = after, starts_after, keys_after
                else:
                    continue  # read again below
                literal_start = place[0]
                if not (place[1] <= lo or literal_start >= hi) and not splice.constants:
                    raise NoSplice("SQL in the member run from outside it")
                if redo and (start, end) in redo:
                    if (start, end) != redone:
                        redone = (start, end)
                        _read_call_again(splice, call_place, extract, into, starts, keys)
                    continue
                md = d.copy()
                md["file"] = md["call_file"] = new
                if delta and (start >= hi or literal_start >= hi):
                    if start >= hi:
                        call_place = (start + delta, end + delta, call_place[2], call_place[3])
                    if literal_start >= hi:
                        literal_start += delta
                        shift += delta
                        if literal_place is not None:
                            literal_place = (
                                literal_start,
                                literal_place[1] + delta,
                                literal_place[2],
                                literal_place[3],
                            )
                        if d["substitutions"]:
                            md["substitutions"] = [
                                Substitution(
                                    s.sql_offset, s.ts_start + delta, s.ts_end + delta, s.expression
                                )
                                for s in d["substitutions"]
                            ]
                    md["_moved"] = (call_place, literal_place, base, shift)
                owner = d["cls"]
                if owner is not None:
                    moved_cls = by_class.get(id(owner))
                    if moved_cls is None:
                        raise NoSplice("a statement of another class")
                    md["cls"] = moved_cls
                carried = make(MovedStatement)
                carried.__dict__ = md
                origin[id(carried)] = stmt
                into.append(carried)  # kept alive by splice._keep below (its id is in origin)
                starts.append(literal_start)
                keys.append((path, base[0] + shift if base else 0, d["index_in_call"]))
                continue
            if kept is not None and "call" not in d and "literal" not in d:
                # a moved statement nobody asked: its places as numbers (call_place, _literal_range)
                call_place, literal_place = kept[0], kept[1]
                start, end = call_place[0], call_place[1]
                literal_start, literal_end = (literal_place or call_place)[:2]
            else:
                start, end, _ = stmt.call_place()
                literal_start, literal_end = _literal_range(stmt)
            if end <= lo:
                into, starts, keys = before, starts_before, keys_before
            elif start >= hi:
                into, starts, keys = after, starts_after, keys_after
            else:
                continue  # read again below
            inside = stmt.file is old and not (literal_end <= lo or literal_start >= hi)
            if inside and not splice.constants:
                raise NoSplice("SQL in the member run from outside it")
            if redo and (start, end) in redo:
                # a statement of the call runs SQL of the region (a constant's), or names a
                # constant of the region in a `${…}`: the call's statements read again
                if (start, end) != redone:
                    redone = (start, end)
                    place = (start, end, *_call_kind(stmt))
                    _read_call_again(splice, place, extract, into, starts, keys)
                continue
            if stmt.file is old:
                if stmt.call_file is old:
                    moved = _move_lazily(splice, stmt, by_class)
                else:
                    moved = _move_statement(splice, stmt, by_class)
            else:
                moved = _move_statement(splice, stmt, by_class)
            into.append(moved)
            starts.append(moved.literal_start())
            keys.append(dedupe_key(moved))
    finally:
        # the moved statements stay alive with the splice, so that their ids in `origin` stay
        # theirs (those _move_lazily made are in it already: listed twice, no harm)
        keep(before)
        keep(after)
    region = splice.read(extract)
    found = before + region + after
    splice.literals = (
        found,
        starts_before + list(map(_literal_start, region)) + starts_after,
        keys_before + list(map(dedupe_key, region)) + keys_after,
    )
    return found


def _literal_start(stmt: SqlStatement) -> int:
    return stmt.literal_start()


def _call_kind(stmt: SqlStatement) -> tuple[str, bool]:
    """(type, is_named) of the statement's call, from its place when it is a moved one."""
    kept = stmt.__dict__.get("_moved")
    if kept is not None and "call" not in stmt.__dict__:
        return kept[0][2], kept[0][3]  # type: ignore[no-any-return]
    return stmt.call.type, stmt.call.is_named


def constant_names(splice: Splice) -> frozenset[str]:
    """The names of the string constants declared in the region (sql.constant_declarations:
    the same before and after, `_make` compared them), read once."""
    names = splice._names
    if names is None:
        names = splice._names = frozenset(
            name for name, _ in splice.read(lambda m: constant_declarations(splice.new, m))
        )
    return names


def _names_a_constant(splice: Splice, substitutions: list[Substitution]) -> bool:
    """Whether a `${…}` names a string constant declared in the region, as the rules look it
    up (rules._sqlexec._spliced_texts: the last name of the expression)."""
    names = constant_names(splice)
    return bool(names) and any(
        sub.expression.strip().rsplit(".", 1)[-1] in names for sub in substitutions
    )


def _calls_to_read_again(splice: Splice, old_list: list[SqlStatement]) -> set[tuple[int, int]]:
    """(start, end) of each call outside the region (in the previous version) whose statements
    are read again: one of them runs a literal of the region (a region of string constants:
    `Splice.constants`), or has a `${…}` naming a constant declared in the region (whose text
    rules read: rules._sqlexec._spliced_texts). All the call's statements are then read again,
    not only those (the others would be there twice)."""
    found: set[tuple[int, int]] = set()
    lo, hi = splice.lo, splice.hi
    if splice.constants:
        old = splice.old
        for stmt in old_list:
            if stmt.file is old:
                literal_start, literal_end = _literal_range(stmt)
                if not (literal_end <= lo or literal_start >= hi):
                    found.add(_call_span(stmt))
    with_names = [s for s in old_list if s.__dict__["substitutions"]]  # at C speed: few have
    if with_names and constant_names(splice):
        for stmt in with_names:
            if _names_a_constant(splice, stmt.substitutions):
                found.add(_call_span(stmt))
    # a call of the region is read with it (its statements are skipped, not moved)
    return {span for span in found if span[1] <= lo or span[0] >= hi}


def _call_span(stmt: SqlStatement) -> tuple[int, int]:
    kept = stmt.__dict__.get("_moved")
    if kept is not None and "call" not in stmt.__dict__:
        return kept[0][0], kept[0][1]  # type: ignore[no-any-return]
    start, end, _ = stmt.call_place()
    return start, end


def _read_call_again(
    splice: Splice,
    place: tuple[int, int, str, bool],
    extract: Callable[[Node], list[SqlStatement]],
    into: list[SqlStatement],
    starts: list[int],
    keys: list[tuple[Any, int, int]],
) -> None:
    """The statements of the previous version's call at `place` (outside the region), read
    again from the call in the new tree (its statements alone, not those of calls inside it),
    appended with their literal starts and dedupe keys. The call's statements are one run of
    the list (extract_statements reads call after call), which these replace."""
    start, end, kind, named = place
    if start >= splice.hi:
        start, end = start + splice.delta, end + splice.delta
    call = _found(splice.new, (start, end, kind, named))
    found = [s for s in extract(call) if s.call_place() == (start, end, kind)]
    into.extend(found)
    starts.extend(map(_literal_start, found))
    keys.extend(map(dedupe_key, found))


def dedupe_key(stmt: SqlStatement) -> tuple[Any, int, int]:
    """model._dedupe_key: the statement's file path, first SQL offset and index in its call
    (the same constant run from two places is one statement), from its places as numbers
    when it is a MovedStatement nobody asked for its offsets."""
    d = stmt.__dict__
    moved = d.get("_moved")
    if moved is not None and "offsets" not in d:
        _, _, base, shift = moved
        return (d["file"].path, base[0] + shift if base else 0, d["index_in_call"])
    ends = stmt.offsets_ends()
    return (stmt.file.path, ends[0] if ends is not None else 0, stmt.index_in_call)


def _literal_range(stmt: SqlStatement) -> tuple[int, int]:
    kept = stmt.__dict__.get("_moved")
    if kept is not None and "literal" not in stmt.__dict__:
        place = kept[1] or kept[0]
        return place[0], place[1]
    literal = stmt.literal
    return literal.start_byte, literal.end_byte


def _literal_outside(splice: Splice, stmt: SqlStatement) -> bool:
    start, end = _literal_range(stmt)
    return end <= splice.lo or start >= splice.hi


def _outside_map(splice: Splice, old: dict[int, Any]) -> dict[int, Any]:
    """An old map by start offset, restricted to outside the member, at new offsets."""
    lo, hi, delta = splice.lo, splice.hi, splice.delta
    return {
        (start if start < lo else start + delta): value
        for start, value in old.items()
        if start < lo or start >= hi
    }


def _inside_out(splice: Splice, new: dict[int, Any]) -> dict[int, Any]:
    """A new map by start offset, restricted to outside the member."""
    lo, hi = splice.lo, splice.hi + splice.delta
    return {start: value for start, value in new.items() if start < lo or start >= hi}


def _same_outside(splice: Splice, old: Iterable[int], new: Iterable[int]) -> bool:
    """The same places outside the region (old ones shifted past it): `_outside_map` of the
    old ones equals `_inside_out` of the new ones, compared as sorted lists (bisect, slices
    and a shift at C speed; a file's executed literals number in the hundreds)."""
    lo, hi, delta = splice.lo, splice.hi, splice.delta
    before, after = sorted(old), sorted(new)
    old_lo, old_hi = bisect.bisect_left(before, lo), bisect.bisect_left(before, hi)
    new_lo = bisect.bisect_left(after, lo)
    new_hi = bisect.bisect_left(after, hi + delta)
    if before[:old_lo] != after[:new_lo]:
        return False
    tail = before[old_hi:]
    return (list(map(delta.__add__, tail)) if delta else tail) == after[new_hi:]


def loose(
    splice: Splice,
    classes: list[DurableObjectClass],
    used: set[int],
    read: Callable[[Node], list[SqlStatement]],
) -> list[SqlStatement] | None:
    """loose_statements of the new file (with their classes): the previous version's outside
    the member, moved, when the same literals outside it are run by exec(); `read(member)`
    for the member's."""
    last = _last(splice, "loose")
    if last is None:
        return None
    key, old_list = last
    by_class = _class_map(splice, classes, key[0])
    if not _same_outside(splice, key[1], used):
        return None
    before: list[SqlStatement] = []
    after: list[SqlStatement] = []
    # the literals with a `${…}` naming a constant of the region: their statements read again
    # (all of a literal's: the others would be there twice), the last one's old place
    redo = {
        _literal_range(s)
        for s in old_list
        if s.substitutions and _names_a_constant(splice, s.substitutions)
    }
    redone = (-1, -1)
    for stmt in old_list:
        start, end = _literal_range(stmt)
        if end <= splice.lo:
            into = before
        elif start >= splice.hi:
            into = after
        else:
            continue
        if redo and (start, end) in redo:
            if (start, end) != redone:
                redone = (start, end)
                literal = _found(splice.new, _moved_place(splice, _place(stmt.literal)))
                into.extend(s for s in read(literal) if _place(s.literal) == _place(literal))
            continue
        into.append(_move_statement(splice, stmt, by_class))
    return before + splice.read(read) + after


def _moved_place(splice: Splice, place: Place) -> Place:
    """The place in the new tree of an old node's place before or after the region."""
    start, end, kind, named = place
    if start >= splice.hi:
        return start + splice.delta, end + splice.delta, kind, named
    return place


def accesses(splice: Splice, bindings: Any, read: Callable[[Node], list[Any]]) -> list[Any] | None:
    """Namespace accesses of the new file: the previous version's outside the member, moved;
    `read(member)` for the member's."""
    last = _last(splice, "namespace_accesses")
    if last is None or last[0] != bindings:
        return None
    before: list[Any] = []
    after: list[Any] = []
    for access in last[1]:
        node = access.node
        if node.end_byte <= splice.lo:
            into = before
        elif node.start_byte >= splice.hi:
            into = after
        else:
            continue
        moved = object.__new__(type(access))
        moved.__dict__.update(access.__dict__)
        moved.file = splice.new
        moved.node = splice.relocate(node)
        if access.argument is not None:
            moved.argument = splice.relocate(access.argument)
        into.append(splice.carried(access, moved))
    return before + splice.read(read) + after


def light_wrappers(
    splice: Splice,
    classes: list[DurableObjectClass],
    key: Any,
    file_aliases: Any,
    names: frozenset[str],
) -> tuple[FileWrappers, frozenset[str]] | None:
    """(the `sqlwrappers.heads` summary of the new file, its exec() sink names) when the
    previous version was summarized by its heads alone and the new one would be too: a file
    that hands no parameter to exec() and names no function that may be a wrapper (`names`,
    model._wrapper_summaries), as most files are (the benchmark's 5,000-line DO: all its SQL is
    text). Then reading every call of the file again (`summarize`, ~15 ms there) tells the
    model nothing: a whole build summarizes such a file by its heads too.

    The previous version's exec() sinks are known to be none (its `exec_sinks` result, or its
    bytes do not hold `exec`); the members outside the region are the same text with the same
    classes and aliases, so theirs are still none; the region's members hand no parameter to
    exec() (`exec_sinks_within`); and the new text spells none of `names`, so no function of
    it is a wrapper or calls one: what a whole build asks of a file to summarize it by its
    heads (model._wrapper_summaries)."""
    old, new = splice.old, splice.new
    last = _last(splice, "exec_sinks")
    if last is None:
        if b"exec" in old.data:
            return None  # its exec() calls were never read
    else:
        old_key, old_names = last
        _class_map(splice, classes, old_key[0])
        if old_key[1] != key[1] or old_names:
            return None
    kept = old.memo.get("wrapper_heads")
    if (
        kept is not None
        and splice.container is not None
        and not any(
            next(iter(walk_type(member, *CLASS_TYPES)), None) is not None
            for member in (*splice.members_old, *splice.members_new)
        )
    ):
        # a region inside a class body and no class in it: the file's imports (top level)
        # and its classes' names and bases (their heads) are the previous version's
        new.memo.setdefault("wrapper_heads", kept)
    head = heads(new)
    if head is None:
        return None
    # (the bytes, not `lacks`: no node's text holds a name the bytes do not, with or without
    # a syntax error, and typing passes through errors all the time)
    data = new.data
    if any(name.encode() in data for name in names):
        return None
    for member in splice.members_new:
        if exec_sinks_within(new, member, classes, file_aliases):
            return None
    return head, frozenset()


def wrappers(
    splice: Splice, classes: list[DurableObjectClass], key: Any, file_aliases: Any
) -> FileWrappers | None:
    """sqlwrappers.summarize of the new file: the previous summary, with the calls outside the
    member moved and the member's read again, when the member has the same sinks (arguments
    that reach exec() or another function from a parameter) and still defines each function it
    did (typing a new method adds one)."""
    last = _last(splice, "sql_wrappers")
    if last is None or splice.notes is not None:
        return None  # (other declared types: the calls elsewhere may name other classes)
    old_key, old = last
    _class_map(splice, classes, old_key[0])
    if old_key[1] != key[1]:
        return None
    old_sinks: list[Any] = []
    old_functions: set[Any] = set()
    for member in splice.members_old:
        # the same typed parameters as the new version's (the region's are the same)
        sinks, _ = summarize_calls(splice.old, member, list(old_key[0]), file_aliases, old.imports)
        old_sinks += sinks
        old_functions |= function_keys(splice.old, member)
    new_sinks: list[Any] = []
    new_calls: list[Any] = []
    new_functions: set[Any] = set()
    for member in splice.members_new:
        sinks, calls = summarize_calls(splice.new, member, classes, file_aliases, old.imports)
        new_sinks += sinks
        new_calls += calls
        new_functions |= function_keys(splice.new, member)
    if old_sinks != new_sinks or not old_functions <= new_functions:
        # a function gone from the member may still be declared elsewhere in the file (the
        # summary keeps a set, not a count): read the whole file again
        return None
    lo, hi, delta = splice.lo, splice.hi, splice.delta
    calls = [(s, r) for s, r in old.calls if s < lo]
    calls += new_calls
    calls += [(s + delta, r) for s, r in old.calls if s >= hi]
    return FileWrappers(
        sinks=list(old.sinks),
        functions=old.functions | new_functions,  # the member's new functions added
        bases=dict(old.bases),
        imports=dict(old.imports),
        calls=calls,
    )
