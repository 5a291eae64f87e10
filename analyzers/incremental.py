"""Incremental rule runs for the language server: only what the published files need, and only
what changed since the previous analysis (docs/performance.md, "Incremental analysis").

The language server publishes the findings of its open files, and re-analyses the project on
every keystroke. Two things make that cheap:

1. Each rule declares its *scope* (`SCOPES` below): the model list it iterates as its units
   (classes, SQL statements, namespace accesses, files), where its findings about a unit land,
   and which project facts its result about a unit reads besides the unit itself. A per-unit
   rule runs on a `ScopedModel`: the whole model, except that its unit list holds only the units
   of one open file; every look-up (classes by name, schemas, statements in scope, configs,
   files) still answers for the whole project. So a rule over 600 classes checks the two of the
   open file.
2. The result of a rule for one open file is memoised on the identity of its inputs: the file's
   `SourceFile`, its units (the model reuses an unchanged file's extracted objects by identity,
   see `analyzers.model.per_file`), and a fingerprint of the project facts the rule reads
   (wrangler configs' bytes; every class object; every statement of the file's Worker scope;
   everything). An edit of another file that leaves those facts alone reuses the findings as
   they were (same objects), so the open files' diagnostics change only when their inputs did.

Project-wide rules (findings anywhere, or reasoning over every file: call sites reaching a
class, a table's inserts and deletes across a Worker) run on the whole model, memoised on a
fingerprint of everything, or on their scope's statements; rules whose findings only land in
wrangler configs run only when a config is open. Rules that read files outside the model or
git (`volatile`) are never memoised.

Findings are the same as a from-scratch `run_rules` (tests/test_speed_incremental.py compares
them after sequences of edits); the memoised findings are never mutated (the caller copies them
before applying settings).
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import operator
import traceback
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from tree_sitter import Node

from durable_harden.analyzers.budget import OverBudget
from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule
from durable_harden.analyzers.model import NamespaceAccess, Problem, ProjectModel

# the rules' declarations and the content memo live in `reuse` (a check imports the rules, not
# this module); re-exported here for the server's code
from durable_harden.analyzers.reuse import (
    ACCESS,
    CLASS,
    CLASSES,
    CONFIGS,
    FILE,
    FILE_PARTS,
    NONE,
    PROJECT,
    QUIET_CALLS,
    REACH,
    REACH_ANY_CLASS,
    REACH_FACTS,
    SCOPE,
    SCOPE_INDEXES,
    SCOPE_SQL,
    STATEMENT,
    UNSETTLED_REST,
    VOLATILE,
    WHOLE,
    ContentMemo,
    FileParts,
    QuietCalls,
)
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.span import Related, Span
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.analyzers.tsutil import FUNCTION_TYPES, node_text, walk

T = TypeVar("T")


@dataclass(frozen=True)
class Scope:
    unit: str
    facts: str
    configs_only: bool = False  # findings land only in wrangler configs


SCOPES: dict[str, Scope] = {
    # a class's findings land in its file; they read the class, its file, its base classes
    # (classes_named) and the config binding it
    "alarm-retry-suppressed": Scope(CLASS, CLASSES),
    "alarm-shared-by-purposes": Scope(CLASS, CLASSES),
    "alarm-unconditional-in-constructor": Scope(CLASS, CLASSES),
    "await-between-kv-writes": Scope(CLASS, CLASSES),
    "block-concurrency-misuse": Scope(CLASS, CLASSES),
    "deleteall-leaves-alarm": Scope(CLASS, CLASSES),
    "kv-unbounded-list": Scope(CLASS, CLASSES),
    "serialize-attachment-misuse": Scope(CLASS, CLASSES),
    "setalarm-without-handler": Scope(CLASS, CLASSES),
    "timer-blocks-hibernation": Scope(CLASS, CLASSES),
    "websocket-close-handshake": Scope(CLASS, CLASSES),
    "websocket-manual-ping": Scope(CLASS, CLASSES),
    "websocket-not-hibernatable": Scope(CLASS, CLASSES),
    "websocket-state-in-memory": Scope(CLASS, CLASSES),
    # a statement's findings land in its file (the literal's or the exec call's); they read
    # the statement, its exec call, and the schema / statements of its Worker scope
    "sql-bindings-mismatch": Scope(STATEMENT, SCOPE_SQL),
    "sql-interpolation": Scope(STATEMENT, SCOPE_SQL),
    "sql-missing-index": Scope(STATEMENT, SCOPE_SQL),
    "sql-pragma-not-allowed": Scope(STATEMENT, SCOPE_SQL),
    "sql-too-many-params": Scope(STATEMENT, SCOPE_SQL),
    "sql-transaction-statement": Scope(STATEMENT, SCOPE_SQL),
    "sql-unbounded-read": Scope(STATEMENT, SCOPE_SQL),
    "schema-change-without-migration": Scope(STATEMENT, SCOPE_SQL),
    # a table's inserts and deletes anywhere in its Worker: one run over the open files' scopes
    "unbounded-table-growth": Scope(SCOPE, SCOPE_SQL),
    # an access's findings land at the access; they read its Worker's config
    "global-singleton": Scope(ACCESS, CONFIGS),
    "syntax-error": Scope(FILE, NONE),
    # canary ternaries in source files; deploy scripts, package.json and git HEAD for the rest
    "rollout-unsafe": Scope(FILE, VOLATILE),
    # a class and the call sites reaching it (anywhere): findings at the class (its file) or at
    # a call site (the access's file); they read the class, every access reaching it, the
    # configs, and the project facts of REACH_FACTS
    "id-name-undefined": Scope(REACH, CONFIGS),
    "obsolete-name-workaround": Scope(REACH, CONFIGS),
    "rpc-result-not-disposed": Scope(REACH, CONFIGS),
    "rpc-compat-date": Scope(REACH, CONFIGS),
    "unawaited-rpc": Scope(REACH, CONFIGS),
    # findings in wrangler configs only
    "binding-class-not-found": Scope(PROJECT, WHOLE, configs_only=True),
    "binding-missing-migration": Scope(PROJECT, WHOLE, configs_only=True),
    "class-not-exported": Scope(PROJECT, WHOLE, configs_only=True),
    # git HEAD; findings in wrangler configs only (config.span)
    "kv-backed-class": Scope(PROJECT, VOLATILE, configs_only=True),
    "migration-history-edited": Scope(PROJECT, VOLATILE, configs_only=True),
    # run by the post-processing (analysis.finish_findings), never as a rule
    "unused-suppression": Scope(PROJECT, VOLATILE),
}
UNDECLARED = Scope(PROJECT, VOLATILE)  # a rule added without a declaration: always re-run
GROWTH = (
    "unbounded-table-growth"  # its scope's facts are kept and updated (IncrementalRules._growth)
)


# derived data of the whole model that a view restricted to some classes may share (each
# computed from the namespace accesses, files or configs, never from the class list)
_SHARED_MEMO = frozenset(
    {
        "access_classes",
        "accesses_by_class",
        "access_by_node",
        "stub_calls",
        "rpc_target_wrappers",
        "rpc_targets",
        "files_by_path",
    }
)


class _Memo(dict[str, Any]):
    """A view's memo: its own, except the keys of `_SHARED_MEMO`, which are the whole model's."""

    def __init__(self, whole: dict[str, Any]) -> None:
        super().__init__()
        self.whole = whole

    def __getitem__(self, key: str) -> Any:
        if key in _SHARED_MEMO:
            return self.whole[key]
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _SHARED_MEMO:
            self.whole[key] = value
        else:
            super().__setitem__(key, value)

    def __contains__(self, key: object) -> bool:
        if key in _SHARED_MEMO:
            return key in self.whole
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in _SHARED_MEMO:
            return self.whole.get(key, default)
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in _SHARED_MEMO:
            return self.whole.setdefault(key, default)
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        if key in _SHARED_MEMO:
            return self.whole.pop(key, *default)
        return super().pop(key, *default)


def scope_of(rule: Rule) -> Scope:
    return SCOPES.get(rule.id, UNDECLARED)


# -- below the class: member-level reuse ---------------------------------------------------------
#
# A class's *members* are the named children of its body (methods, fields, accessors, static
# blocks; comments aside). A rule declared here finds, in a class, exactly the union of what it
# finds in each member with the class's `node` narrowed to that member (`member_view`), and what
# it finds in a member depends only on that member's text and the class facts its `outline`
# returns. Then an edit inside one member re-checks that member alone; the findings of the other
# members are reused, shifted to where their member now starts (spans, related spans and the
# byte offsets of `finding.data` named in `offsets`). Keys are content (the member's text, the
# outline, the class's text outside its body), never positions, so an edit above a member
# reuses it too.
#
# A rule whose finding in one member reads another member's body (the constructor's aliases
# are the outline's; a flag assigned anywhere in the class is not) stays whole-class: it is not
# declared here. Safety nets, checked at run time: a class nested in a function (a member could
# read the enclosing function's variables) and a finding reaching outside its member (the class
# head, another member) make that class whole-class; a member with a syntax error is re-checked
# on every run.


def _outline_storage(cls: DurableObjectClass, model: ProjectModel) -> Hashable:
    """The class name (in the findings' data and messages) and the spellings of its storage
    (`kv_call` matches receivers against `cls.aliases.storage`)."""
    return (cls.name, frozenset(cls.aliases.storage))


def _outline_name(cls: DurableObjectClass, model: ProjectModel) -> Hashable:
    return (cls.name,)


@dataclass(frozen=True)
class MemberLocal:
    outline: Callable[[DurableObjectClass, ProjectModel], Hashable]
    # keys of `finding.data` whose values are byte offsets in the file (an int, or lists of them;
    # strings inside the lists are left alone)
    offsets: tuple[str, ...]
    reason: str


MEMBER_LOCAL: dict[str, MemberLocal] = {
    "await-between-kv-writes": MemberLocal(
        _outline_storage,
        ("statements",),
        "a run is the awaited writes of one statement block, and every block of a class is "
        "inside one member; `kv_call` reads the storage aliases (outline), the finding the "
        "class name",
    ),
    "kv-unbounded-list": MemberLocal(
        _outline_storage,
        ("loop",),
        "each finding is one storage call; the batch size is read from a `const` of the "
        "enclosing function and the loop is an ancestor below it, both inside the member (a "
        "class nested in a function is whole-class)",
    ),
    "serialize-attachment-misuse": MemberLocal(
        _outline_name,
        (),
        "each finding is one `serializeAttachment()` call and how its value is used (its "
        "parents up to the statement); the class name is in the data",
    ),
}


# -- per exec() call: statement-level reuse -------------------------------------------------------
#
# A statement rule declared here finds in an exec() call's statements what it finds in them
# alone, from the call's own text: the SQL string written in the call (no `${…}`), its
# arguments; not the schema, not other statements, not the enclosing class or method. Then the
# findings of a call are kept under the call's content (its text, and each statement's SQL,
# place in the call and binding counts) and reused, shifted, wherever that call now stands; only
# new or edited calls are checked. Calls whose SQL lives elsewhere (a constant, another file),
# with substitutions, through a project wrapper, or nested in another call are checked on every
# run, as are findings that reach outside their call.

STATEMENT_LOCAL: dict[str, MemberLocal] = {
    "sql-bindings-mismatch": MemberLocal(
        _outline_name,  # unused for statements
        ("call", "statement"),
        "the placeholders of each statement of the call (its text) against the call's own "
        "arguments",
    ),
    "sql-too-many-params": MemberLocal(
        _outline_name,
        ("statement",),
        "the placeholders of the statement and the call's arguments; a generated list needs a "
        "`${…}` (such calls are not reused)",
    ),
    "sql-pragma-not-allowed": MemberLocal(
        _outline_name,
        ("statement",),
        "the statement's text alone",
    ),
    "sql-transaction-statement": MemberLocal(
        _outline_name,
        ("statement",),
        "the statement's first keyword (its text), whether it is loose and how many statements "
        "its call runs",
    ),
}


# -- a whole-class rule that reads a few named members -------------------------------------------
#
# A rule declared here finds in a class exactly what it finds from the class facts its
# `outline` returns and the members it reads by name (`cls.methods[name]`, or no member of that
# name); `reads` names them after a run over the class (a superset is fine: a name looked up and
# missing is part of the key as "none"). Then an analysis whose class has the same outline and,
# for every name read, a member of the same text (or again none) reuses the findings, each
# shifted to where its member now starts; any other edit re-runs the rule on the class. Safety
# nets, checked at run time: a class nested in a function (its members could read the enclosing
# function's variables) and a finding (span, related spans, `offsets` of its data) reaching
# outside the members read make the class re-run on every analysis.


@dataclass(frozen=True)
class NamedMembers:
    outline: Callable[[DurableObjectClass, ProjectModel], Hashable]
    # the names of the members (cls.methods keys) the run over the class read
    reads: Callable[[DurableObjectClass], Iterable[str]]
    offsets: tuple[str, ...]  # as MemberLocal.offsets
    reason: str


def _this_closure(cls: DurableObjectClass, first: str) -> set[str]:
    """`first` and every name `this.<name>` mentions (any member expression on `this`: calls,
    reads, writes) in the members reached so far, transitively; names without a member
    included."""
    data = cls.file.data
    names = {first}
    frontier = [first]
    while frontier:
        node = cls.methods.get(frontier.pop())
        if node is None:
            continue
        # the member's own subtree walked (a few hundred nodes): `walk_type` of a type the
        # file's index lacks queries the whole tree for it once the tree is indexed (at a file's
        # first analysis: ~3,200 member expressions of the benchmark's file, +3 MB of the
        # server's memory)
        for expr in (n for n in walk(node) if n.type == "member_expression"):
            obj, prop = expr.child_by_field_name("object"), expr.child_by_field_name("property")
            if obj is None or prop is None or data[obj.start_byte : obj.end_byte] != b"this":
                continue
            name = node_text(data, prop)
            if name not in names:
                names.add(name)
                frontier.append(name)
    return names


def _constructor_closure(cls: DurableObjectClass) -> set[str]:
    return _this_closure(cls, "constructor")


def _outline_storage_only(cls: DurableObjectClass, model: ProjectModel) -> Hashable:
    """The class name (in messages and data) and its storage spellings (`storage_receiver`)."""
    return (cls.name, frozenset(cls.aliases.storage))


NAMED_MEMBERS: dict[str, NamedMembers] = {
    "alarm-unconditional-in-constructor": NamedMembers(
        _outline_storage_only,
        _constructor_closure,
        ("call",),
        "`reached_from_constructor` walks the constructor (`cls.methods['constructor']`) and, "
        "transitively, the methods its `this.m()` calls name (`cls.methods[m]`, a name not "
        "there is skipped); `from_durable_state` follows `this.m()` calls of the setAlarm "
        "argument (inside a reached method) through `cls.methods` the same way; "
        "`storage_calls`, `getalarm_guarded` and `_getalarm_names` read the method's subtree; "
        "`storage_receiver` reads `cls.aliases.storage` (outline); the finding holds the class "
        "name (outline). No other class, nothing else of the file.",
    ),
    "websocket-manual-ping": NamedMembers(
        _outline_name,
        lambda cls: ("constructor", "webSocketMessage"),
        (),
        "`check` reads `cls.methods['webSocketMessage']` (its parameters, its `if` branches "
        "and their `send` calls, string literals) and the constructor's text (`cls.constructor`, "
        "for `setWebSocketAutoResponse(`); the finding holds the class name (outline), its state "
        "the class (rebuilt by `fresh_state`). No other member, class or file.",
    ),
}


@dataclass
class _Named:
    """A NAMED_MEMBERS rule's result for one class outline: the members read (name, text or
    None) and the findings (the member's name, offsets relative to its start)."""

    reads: tuple[tuple[str, bytes | None], ...]
    found: list[tuple[str, Finding]]


def _read_texts(
    cls: DurableObjectClass, names: Iterable[str]
) -> tuple[tuple[str, bytes | None], ...]:
    data = cls.file.data
    out = []
    for name in names:
        node = cls.methods.get(name)
        out.append((name, None if node is None else data[node.start_byte : node.end_byte]))
    return tuple(out)


class Rerun:
    """`Finding.state` of a finding that a rule did not make from the current tree in one run
    over its whole unit (reused from an earlier analysis, or found in one member): its nodes
    would be the old tree's or the member view's. `fresh_state` re-runs the rule on the unit
    (the class; the exec() call's statements) when a fix is asked for."""

    __slots__ = ("items", "rule", "unit")

    def __init__(self, rule: Rule, unit: str, items: list[Any]) -> None:
        self.rule = rule
        self.unit = unit
        self.items = items


RerunCache = dict[tuple[str, int], tuple[Rerun, list[Finding]]]


def fresh_state(finding: Finding, model: ProjectModel, cache: RerunCache | None = None) -> Finding:
    """The finding with the detection state of the current tree: itself, or (state `Rerun`) a
    copy carrying the state of the same finding in a run of its rule over its whole unit (the
    class, the exec() call's statements; one run per marker with `cache`, kept by the caller
    for one analysis). When that run does not find it (it should), the copy has no state and
    the fix builders refuse (`CannotFix`)."""
    marker = finding.state
    if not isinstance(marker, Rerun):
        return finding
    key = (marker.rule.id, id(marker))
    known = cache.get(key) if cache is not None else None
    if known is None or known[0] is not marker:
        try:
            again = list(marker.rule.check(ScopedModel(model, marker.unit, marker.items)))
        except Exception:  # the analysis reported it; no fix is offered here
            again = []
        known = (marker, again)
        if cache is not None:
            cache[key] = known
    state = next(
        (
            f.state
            for f in known[1]
            if f.span == finding.span
            and f.message_id == finding.message_id
            and f.data == finding.data
            and f.related == finding.related
        ),
        None,
    )
    return dataclasses.replace(finding, state=state)


def member_view(cls: DurableObjectClass, member: Node) -> DurableObjectClass:
    """The class narrowed to one member: its `node` is the member (rules walk `cls.node`),
    everything else is the class's."""
    return dataclasses.replace(cls, node=member)


def _top_level(cls: DurableObjectClass) -> bool:
    parent = cls.node.parent
    while parent is not None:
        if parent.type in FUNCTION_TYPES or parent.type == "class_body":
            return False
        parent = parent.parent
    return True


@dataclass
class _Members:
    """A class's members, once per analysis: nodes, starts (sorted) and texts (the keys)."""

    nodes: list[Node]
    starts: list[int]
    texts: list[bytes]
    head: bytes  # the class's text outside its body (name, heritage, decorators)
    # member text -> the indices of the members with that text and no syntax error
    positions: dict[bytes, list[int]]
    errors: list[int]  # members with a syntax error: checked on every run
    # the index of each member among the body's named children (comments count there), and
    # how many those are: a later version's members are found by index (_after_edit)
    indices: list[int] = field(default_factory=list)
    children: int = 0

    @classmethod
    def of(cls, klass: DurableObjectClass) -> _Members | None:
        body = klass.body
        if body is None or not _top_level(klass):
            return None
        data = klass.file.data
        children = body.named_children
        indices = [i for i, n in enumerate(children) if n.type != "comment"]
        nodes = [children[i] for i in indices]
        node = klass.node
        head = data[node.start_byte : body.start_byte] + data[body.end_byte : node.end_byte]
        texts = [data[n.start_byte : n.end_byte] for n in nodes]
        positions: dict[bytes, list[int]] = {}
        errors: list[int] = []
        broken = node.has_error  # else no member has one: not asked 1,000 times
        for index, (member, text) in enumerate(zip(nodes, texts, strict=True)):
            if broken and member.has_error:
                errors.append(index)
            else:
                positions.setdefault(text, []).append(index)
        starts = [n.start_byte for n in nodes]
        return cls(nodes, starts, texts, head, positions, errors, indices, len(children))

    @classmethod
    def kept(cls, klass: DurableObjectClass) -> _Members | None:
        """`of`, kept in the file's memo for the next analysis (by the class's start); the
        class that holds an edited region (analyzers.splice) takes its previous version's
        members before and after the region as they were (texts, places shifted) and reads
        the region's members only."""
        memo: dict[int, tuple[DurableObjectClass, _Members | None]] = klass.file.memo.setdefault(
            _MEMBERS_MEMO, {}
        )
        start = klass.node.start_byte
        known = memo.get(start)
        if known is not None and known[0] is klass:
            return known[1]
        parts = cls._after_edit(klass)
        MEMBERS_COUNTS["carried" if parts is not None else "read"] += 1
        if parts is None:
            parts = cls.of(klass)
        memo[start] = (klass, parts)
        return parts

    @classmethod
    def _after_edit(cls, klass: DurableObjectClass) -> _Members | None:
        file = klass.file
        previous = file.memo.get("previous")
        moved = file.memo.get("splice")
        body = klass.body
        if previous is None or moved is None or body is None:
            return None
        lo, hi, delta = moved.lo, moved.hi, moved.delta
        node = klass.node
        if node.end_byte <= lo or node.start_byte >= hi + delta:
            return cls._moved(klass, previous.file, body, 0 if node.end_byte <= lo else delta)
        # the class around the region (its start is before it), its body's members the
        # region's container
        if not (node.start_byte < lo and hi + delta < node.end_byte):
            return None
        if not (body.start_byte < lo and hi + delta < body.end_byte):
            return None
        before = previous.file.memo.get(_MEMBERS_MEMO, {}).get(node.start_byte)
        if before is None or before[1] is None or not _top_level(klass):
            return None
        old: _Members = before[1]
        lead = bisect.bisect_left(old.starts, lo)
        tail = len(old.starts) - bisect.bisect_left(old.starts, hi)
        if lead + tail > len(old.starts):
            return None
        # the members by their index among the body's children: those before the region at
        # the same indices, those after it shifted by the children the region gained, the
        # region's children looked at (comments left out), all taken at C speed
        children = body.named_children
        gained = len(children) - old.children
        first = old.indices[lead - 1] + 1 if lead else 0
        stop = old.indices[len(old.indices) - tail] + gained if tail else len(children)
        if not 0 <= first <= stop <= len(children):
            return None
        indices = old.indices[:lead]
        indices += [i for i in range(first, stop) if children[i].type != "comment"]
        after = old.indices[len(old.indices) - tail :]
        indices += map(gained.__add__, after) if gained else after
        nodes = [children[i] for i in indices] if len(indices) < 2 else []
        if len(indices) >= 2:
            nodes = list(operator.itemgetter(*indices)(children))
        inside = len(nodes) - lead - tail
        data = file.data
        region = nodes[lead : lead + inside]
        texts = old.texts[:lead] + [data[n.start_byte : n.end_byte] for n in region]
        texts += old.texts[len(old.texts) - tail :]
        starts = old.starts[:lead] + [n.start_byte for n in region]
        after = old.starts[len(old.starts) - tail :]
        starts += map(delta.__add__, after) if delta else after
        if (lead and nodes[lead - 1].start_byte != starts[lead - 1]) or (
            tail and nodes[-1].start_byte != starts[-1]
        ):
            return None  # not the members the splice compared
        gone = len(old.starts) - lead - tail
        # a member outside the region has the syntax error it had (its subtree is the same)
        broken = node.has_error
        errors = [i for i in old.errors if i < lead]
        errors += [lead + j for j, n in enumerate(region) if broken and n.has_error]
        errors += [i - gone + inside for i in old.errors if i >= lead + gone]
        if gone == inside:  # the same indices outside the region: its entries changed only
            positions = dict(old.positions)
            was_broken = set(old.errors)
            for index in range(lead, lead + gone):
                if index in was_broken:
                    continue
                text = old.texts[index]
                left = [i for i in positions[text] if i != index]
                if left:
                    positions[text] = left
                else:
                    del positions[text]
            is_broken = set(errors)
            for index in range(lead, lead + inside):
                if index in is_broken:
                    continue
                found = positions.get(texts[index])
                positions[texts[index]] = sorted([*(found or ()), index])
        else:
            positions = _positions(texts, errors)
        head = data[node.start_byte : body.start_byte] + data[body.end_byte : node.end_byte]
        return cls(nodes, starts, texts, head, positions, errors, indices, len(children))

    @classmethod
    def _moved(
        cls, klass: DurableObjectClass, old_file: SourceFile, body: Node, delta: int
    ) -> _Members | None:
        """The members of a class before or after the edited region (a region of the top
        level: typing in a top-level constant or function), `delta` bytes after where the
        previous version had them: its members there, the same texts and indices (the bytes
        outside the region are the same, and so is the syntax: analyzers.splice), their
        places shifted, their nodes the new body's children at the same indices."""
        before = old_file.memo.get(_MEMBERS_MEMO, {}).get(klass.node.start_byte - delta)
        if before is None or before[1] is None or not _top_level(klass):
            return None
        old: _Members = before[1]
        children = body.named_children
        if len(children) != old.children or not old.indices:
            return None
        nodes = (
            list(operator.itemgetter(*old.indices)(children))
            if len(old.indices) > 1
            else [children[old.indices[0]]]
        )
        starts = list(map(delta.__add__, old.starts)) if delta else old.starts
        if nodes[0].start_byte != starts[0] or nodes[-1].start_byte != starts[-1]:
            return None  # not the members the previous version read
        # the lists are never mutated (each version that changes them makes its own)
        found = cls(
            nodes, starts, old.texts, old.head, old.positions, old.errors, old.indices, old.children
        )
        seen = old.__dict__.get("_seen")
        if seen is not None:
            found.__dict__["_seen"] = seen  # frozenset(positions): the same positions
        return found

    def texts_seen(self) -> frozenset[bytes]:
        """The member texts checked (those without a syntax error): one set per class and
        analysis, shared by the member-local rules' `_Kept`."""
        seen = self.__dict__.get("_seen")
        if seen is None:
            seen = self.__dict__["_seen"] = frozenset(self.positions)
        return seen  # type: ignore[no-any-return]

    def index_of(self, start: int, end: int) -> int | None:
        index = bisect.bisect_right(self.starts, start) - 1
        if index < 0 or end > self.nodes[index].end_byte:
            return None
        return index


_REST_TOKENS = itertools.count(1)  # _Calls.rest_token: a number per set of rest statements


@dataclass
class _Calls:
    """The statements of one file by exec() call, once per analysis: the calls whose findings
    may be reused (sorted by start, with their content keys) and the other statements."""

    calls: list[tuple[int, int]]  # (start, end) of each call
    starts: list[int]
    keys: list[Hashable]
    # the calls' statements, call after call (`group`): flat[bounds[i]:bounds[i + 1]] are the
    # i-th call's (no list per call: a carried version maps them at C speed, ~300 a keystroke)
    flat: list[SqlStatement]
    bounds: list[int]
    rest: list[SqlStatement]
    # a number per distinct key (the rules' per-call memos are keyed by it: no content hashed
    # per look-up), from `numbers`, shared by the versions of a file (a key typed again gets
    # its number back); numbers are never reused, so a memo never mistakes one key for another
    ids: list[int] = field(default_factory=list)
    numbers: dict[Hashable, int] = field(default_factory=dict)
    # the same number as the previous version's when `rest` is its rest, moved (statements
    # outside the edited region: their calls' and SQL's bytes the same) and nothing added:
    # a rule that found nothing in them then finds nothing again (`_rest_checked`)
    rest_token: int = field(default_factory=lambda: next(_REST_TOKENS))

    def group(self, index: int) -> list[SqlStatement]:
        """The statements of the index-th call, in order."""
        return self.flat[self.bounds[index] : self.bounds[index + 1]]

    @property
    def groups(self) -> list[list[SqlStatement]]:
        """Every call's statements (tests read them)."""
        return [self.group(index) for index in range(len(self.calls))]

    @classmethod
    def of(
        cls,
        file: SourceFile,
        stmts: list[SqlStatement],
        numbers: dict[Hashable, int] | None = None,
    ) -> _Calls:
        # places, not nodes and offsets: a statement moved by an edit above it finds those
        # only when asked (analyzers.splice.MovedStatement)
        by_call: dict[tuple[int, int, str], list[tuple[SqlStatement, tuple[int, int, int]]]] = {}
        rest: list[SqlStatement] = []
        # calls with a statement in `rest`: all their statements go there (a rule reads a call's
        # statements together: sql-bindings-mismatch's "statement 2 of 3" of `exec(\`…; … ${X};
        # …\`)` told a call group of the others and a rest of one apart)
        spoiled: set[tuple[int, int, str]] = set()
        for stmt in stmts:
            if stmt.call_file is not file:
                rest.append(stmt)
                continue
            if stmt.file is not file or stmt.wrapper is not None or stmt.substitutions:
                spoiled.add(stmt.call_place())
                rest.append(stmt)
                continue
            ends = stmt.offsets_ends()
            place = stmt.call_place()
            if ends is None or ends[0] < place[0] or ends[1] > place[1]:
                spoiled.add(place)
                rest.append(stmt)
                continue
            by_call.setdefault(place, []).append((stmt, ends))
        for place in spoiled.intersection(by_call):
            rest.extend(stmt for stmt, _ in by_call.pop(place))
        ordered = sorted(by_call.items(), key=lambda item: item[0][:2])
        calls: list[tuple[int, int]] = []
        keys: list[Hashable] = []
        groups: list[list[SqlStatement]] = []
        data = file.data
        end = -1
        for (start, stop, kind), group in ordered:
            if start < end:
                # inside a call before it (an exec() in another's arguments): neither is reused
                if calls and calls[-1][1] > start:
                    rest.extend(groups.pop())
                    calls.pop()
                    keys.pop()
                rest.extend(s for s, _ in group)
                end = max(end, stop)
                continue
            end = stop
            keys.append(
                (
                    data[start:stop],
                    kind,
                    tuple(
                        (
                            # the SQL and its places follow from the literal's text (in the
                            # call's) and where it starts: its ends and length say the rest
                            s.text,
                            ends[0] - start,
                            ends[1] - start,
                            ends[2],
                            s.literal_start() - start,
                            s.index_in_call,
                            s.statements_in_call,
                            s.bindings,
                            s.has_spread_binding,
                            s.binding_start,
                            s.tagged,
                            s.loose,
                        )
                        for s, ends in group
                    ),
                )
            )
            calls.append((start, stop))
            groups.append([s for s, _ in group])
        numbers = {} if numbers is None else numbers
        ids = [_number(numbers, key) for key in keys]
        rest = _in_order(rest, stmts)
        flat = list(itertools.chain.from_iterable(groups))
        bounds = [0, *itertools.accumulate(map(len, groups))]
        return cls(calls, [c[0] for c in calls], keys, flat, bounds, rest, ids, numbers)

    @classmethod
    def kept(cls, file: SourceFile, stmts: list[SqlStatement]) -> _Calls:
        """`of`, kept in the file's memo for the next analysis; a re-parsed file's from its
        previous version's: the calls outside the edited region are the same calls (their
        keys are relative to the call), shifted, with the moved statements; only the region's
        statements are grouped again (analyzers.splice)."""
        memo = file.memo.get(_CALLS_MEMO)
        if memo is not None and memo[0] == stmts:
            return memo[1]  # type: ignore[no-any-return]
        parts = cls._after_edit(file, stmts)
        CALLS_COUNTS["carried" if parts is not None else "grouped"] += 1
        if parts is None:
            previous = file.memo.get("previous")
            before = previous.file.memo.get(_CALLS_MEMO) if previous is not None else None
            parts = cls.of(file, stmts, before[1].numbers if before is not None else None)
        if len(parts.numbers) > 2 * len(parts.keys) + 256:
            # keys typed and gone: only the current ones keep their numbers
            parts.numbers = dict(zip(parts.keys, parts.ids, strict=True))
        file.memo[_CALLS_MEMO] = (list(stmts), parts)
        return parts

    @classmethod
    def _after_edit(cls, file: SourceFile, stmts: list[SqlStatement]) -> _Calls | None:
        previous = file.memo.get("previous")
        moved = file.memo.get("splice")
        if previous is None or moved is None:
            return None
        before = previous.file.memo.get(_CALLS_MEMO)
        if before is None:
            return None
        old: _Calls = before[1]
        origin = moved.origin
        # each statement's origin (at C speed): None for the region's, read again
        was = list(map(origin.get, map(id, stmts)))
        fresh = list(itertools.compress(stmts, map(operator.is_, was, itertools.repeat(None))))
        moved_to = dict(
            zip(
                map(id, filter(None, was)),
                itertools.compress(stmts, map(operator.is_not, was, itertools.repeat(None))),
                strict=True,
            )
        )
        lo, hi, delta = moved.lo, moved.hi, moved.delta
        region = cls.of(file, fresh, old.numbers)
        # the old calls before the region (start < lo) and after it (start >= hi), in order;
        # those in it are grouped again (their statements are fresh)
        first = bisect.bisect_left(old.starts, lo)
        last = bisect.bisect_left(old.starts, hi)
        bounds = old.bounds
        flat_before = list(map(moved_to.get, map(id, old.flat[: bounds[first]])))
        flat_after = list(map(moved_to.get, map(id, old.flat[bounds[last] :])))
        if None in flat_before or None in flat_after:
            return None  # a call outside the region whose statements did not move
        placed = len(flat_before) + len(flat_after)
        rest = [moved_to[id(s)] for s in old.rest if id(s) in moved_to]
        if placed + len(rest) != len(moved_to):
            return None  # a moved statement changed its call's company: group afresh
        after = old.calls[last:]
        starts_after = old.starts[last:]
        if delta:
            shift = delta.__add__
            starts_after = list(map(shift, starts_after))
            after = list(zip(starts_after, map(shift, map(_end_of, after)), strict=True))
        calls = old.calls[:first] + region.calls + after
        # each part is in order and flat (the previous version's, `of`'s): only the seams
        # between them can break the order (a region call outside the region, calls inside
        # others)
        for seam in (first, first + len(region.calls)):
            if 0 < seam < len(calls) and calls[seam][0] < calls[seam - 1][1]:
                return None  # calls inside others (grouped apart by `of`): group afresh
        keys = old.keys[:first] + region.keys + old.keys[last:]
        ids = old.ids[:first] + region.ids + old.ids[last:]
        flat = cast(list[SqlStatement], flat_before) + region.flat
        flat += cast(list[SqlStatement], flat_after)  # no None in them: checked above
        inside = len(flat_before)
        gap = inside + len(region.flat) - bounds[last]  # the shift of the bounds after it
        new_bounds = bounds[: first + 1]
        new_bounds += map(inside.__add__, region.bounds[1:])
        new_bounds += map(gap.__add__, bounds[last + 1 :]) if gap else bounds[last + 1 :]
        same_rest = not region.rest and len(rest) == len(old.rest)
        rest = _in_order(rest + region.rest, stmts)
        carried = cls(
            calls,
            old.starts[:first] + region.starts + starts_after,  # the calls' starts
            keys,
            flat,
            new_bounds,
            rest,
            ids,
            old.numbers,
        )
        if same_rest:  # every old rest statement moved (their count), none new
            carried.rest_token = old.rest_token
        return carried


def _positions(texts: list[bytes], errors: list[int]) -> dict[bytes, list[int]]:
    """Member text -> the indices of the members with that text, but those with a syntax
    error. Most classes' members are all different: then built at C speed."""
    if not errors:
        positions = dict(zip(texts, map(list, zip(range(len(texts)))), strict=True))
        if len(positions) == len(texts):
            return positions
    positions = {}
    is_broken = set(errors)
    for index, text in enumerate(texts):
        if index not in is_broken:
            positions.setdefault(text, []).append(index)
    return positions


_NUMBERS = itertools.count()


def _number(numbers: dict[Hashable, int], key: Hashable) -> int:
    found = numbers.get(key)
    if found is None:
        found = numbers[key] = next(_NUMBERS)
    return found


_REST = "rest"  # in a statement rule's `members` entry: what `_rest_checked` keeps
_MEMBERS_MEMO = "incremental:members"
MEMBERS_COUNTS = {"carried": 0, "read": 0}  # how _Members.kept found them (tests read it)
_CALLS_MEMO = "incremental:calls"
CALLS_COUNTS = {"carried": 0, "grouped": 0}  # how _Calls.kept found them (tests read it)


def _in_order(items: list[SqlStatement], order: list[SqlStatement]) -> list[SqlStatement]:
    """`items` in the order they have in `order` (a file's statements)."""
    if len(items) < 2:
        return items
    if len(items) <= 8:
        return sorted(items, key=order.index)  # eq=False statements: by identity
    index = {id(s): number for number, s in enumerate(order)}
    return sorted(items, key=lambda s: index[id(s)])


_end_of = operator.itemgetter(1)


@dataclass
class _Kept:
    """A member-local rule's results for one class outline: the member texts checked, and the
    findings of those that have any (offsets relative to the member's start)."""

    seen: frozenset[bytes]  # the class's `_Members.texts_seen` (shared by the rules)
    found: dict[bytes, list[Finding]]


def _relative_key(findings: list[Finding]) -> list[tuple[Any, ...]]:
    return [
        (f.message_id, f.message, f.span.start, f.span.end, f.related, repr(f.data))
        for f in findings
    ]


WHOLE_CLASS = "whole-class"  # an outline whose findings do not split into members


def _shift_value(value: Any, delta: int) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value + delta
    if isinstance(value, list):
        return [_shift_value(v, delta) for v in value]
    raise TypeError(f"not a byte offset: {value!r}")


def _offsets_in(value: Any) -> Iterable[int]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _offsets_in(v)
    else:
        raise TypeError(f"not a byte offset: {value!r}")


def _shifted(finding: Finding, delta: int, offsets: tuple[str, ...], state: object) -> Finding:
    def move(span: Span) -> Span:
        return Span(span.path, span.start + delta, span.end + delta)

    data = finding.data
    if offsets and delta:
        data = dict(data)
        for key in offsets:
            if key in data:
                data[key] = _shift_value(data[key], delta)
    return Finding(
        rule_id=finding.rule_id,
        message=finding.message,
        span=move(finding.span),
        severity=finding.severity,
        related=[Related(move(r.span), r.message) for r in finding.related],
        data=data,
        message_id=finding.message_id,
        state=state,
    )


def _within(finding: Finding, path: Path, start: int, end: int, offsets: tuple[str, ...]) -> bool:
    spans = [finding.span, *(r.span for r in finding.related)]
    if any(s.path != path or s.start < start or s.end > end for s in spans):
        return False
    try:
        places = [o for key in offsets for o in _offsets_in(finding.data.get(key))]
    except TypeError:
        return False
    return all(start <= o <= end for o in places)


class ScopedModel(ProjectModel):
    """The whole model with one unit list restricted (a rule's view of one open file).

    Look-ups answer for the whole project; lists other than the unit list are the whole
    project's; the memo is the view's own (helpers deriving data from the restricted list must
    not leave it in the whole model's memo, which code actions read)."""

    whole: ProjectModel

    def __init__(self, whole: ProjectModel, unit: str, items: list[Any]) -> None:
        # ProjectModel's fields set directly (its generated __init__ with keywords cost more
        # than the rest: ~50 views a keystroke), then the unit list restricted
        self.__dict__.update(
            root=whole.root,
            files=whole.files,
            configs=whole.configs,
            problems=whole.problems,
            classes=whole.classes,
            statements=whole.statements,
            namespace_accesses=whole.namespace_accesses,
            memo=_Memo(whole.memo) if unit == CLASS else {},
            overlays=whole.overlays,
            whole=whole,
            # scope and schema look-ups: the whole project's (cached properties read __dict__)
            _statements_by_scope=whole._statements_by_scope,
            _schemas=whole._schemas,
            _config_for_path_cache=whole.__dict__.setdefault("_config_for_path_cache", {}),
        )
        self.__dict__[unit] = items

    def classes_named(self, name: str) -> list[DurableObjectClass]:
        return self.whole.classes_named(name)

    def file(self, path: Path) -> SourceFile | None:
        return self.whole.file(path)


class _Facts:
    """The fingerprints of one model, computed on first use."""

    def __init__(self, model: ProjectModel) -> None:
        self.model = model
        self._configs: Hashable | None = None
        self._classes: Hashable | None = None
        self._whole: Hashable | None = None
        self._scopes: dict[Path, Hashable] = {}
        # id of a file's statement list -> (the list, the SCOPE_SQL facts of its scopes)
        self.statement_scopes: dict[int, tuple[list[Any], Hashable]] = {}

    def configs(self) -> Hashable:
        if self._configs is None:
            self._configs = tuple((c.path, c.data) for c in self.model.configs)
        return self._configs

    def of(self, facts: str, path: Path | None) -> Hashable:
        model = self.model
        if facts == NONE:
            return ()
        if facts == CONFIGS:
            return self.configs()
        if facts == CLASSES:
            if self._classes is None:
                self._classes = (self.configs(), tuple(model.classes))
            return self._classes
        if facts == SCOPE_SQL and path is not None:
            root = model._scope_root(path)
            found = self._scopes.get(root)
            if found is None:
                found = self._scopes[root] = (
                    self.configs(),
                    root,
                    tuple(model._statements_by_scope.get(root, ())),
                )
            return found
        if self._whole is None:
            self._whole = (
                self.configs(),
                tuple(model.files),
                tuple(model.classes),
                tuple(model.statements),
                tuple(model.namespace_accesses),
            )
        return self._whole


class _Units:
    """The units of each file of one model: read from the model's per-file build results
    (`model._file_units`) where it has them, else grouped once from the model's lists."""

    def __init__(self, model: ProjectModel) -> None:
        self.model = model
        self.by_file: dict[str, dict[Path, list[Any]]] | None = None
        self.asked: dict[tuple[str, Path], tuple[SourceFile, list[Any]]] = {}

    def _grouped(self) -> dict[str, dict[Path, list[Any]]]:
        if self.by_file is None:
            model = self.model
            self.by_file = {CLASS: {}, STATEMENT: {}, ACCESS: {}}
            for cls in model.classes:
                self.by_file[CLASS].setdefault(cls.file.path, []).append(cls)
            for stmt in model.statements:
                self.by_file[STATEMENT].setdefault(stmt.file.path, []).append(stmt)
                if stmt.call_file is not stmt.file:
                    self.by_file[STATEMENT].setdefault(stmt.call_file.path, []).append(stmt)
            for access in model.namespace_accesses:
                self.by_file[ACCESS].setdefault(access.file.path, []).append(access)
        return self.by_file

    def of(self, unit: str, file: SourceFile) -> list[Any]:
        """The same list for every rule of one analysis (rules never change their units)."""
        if unit == FILE:
            return [file]
        key = (unit, file.path)
        known = self.asked.get(key)
        if known is not None and known[0] is file:
            return known[1]
        found = self.model._file_units(file, unit)
        if found is None:
            found = self._grouped()[unit].get(file.path, [])
        self.asked[key] = (file, found)
        return found


def _accesses_to(model: ProjectModel, cls: DurableObjectClass) -> list[NamespaceAccess]:
    from durable_harden.analyzers.rules._bindings import accesses_to

    return accesses_to(model, cls)


def _reached(model: ProjectModel, units: _Units, file: SourceFile) -> list[DurableObjectClass]:
    """The classes `file` declares or reaches through its namespace accesses, in model order."""
    from durable_harden.analyzers.rules._bindings import classes_of_access

    found = {id(c): c for c in units.of(CLASS, file)}
    names: set[str] = set()
    for access in units.of(ACCESS, file):
        names |= classes_of_access(model, access)
    for name in names:
        for cls in model.classes_named(name):
            found.setdefault(id(cls), cls)
    return sorted(found.values(), key=lambda c: (str(c.file.path), c.node.start_byte))


_PART_RULES: dict[tuple[str, int], tuple[Rule, Callable[..., Any], Rule]] = {}


def _part_rule(rule: Rule, check: Callable[[ProjectModel], Iterable[Finding]]) -> Rule:
    """The rule with `check` as its check (a part of it: FileParts), made once."""
    key = (rule.id, id(check))
    known = _PART_RULES.get(key)
    if known is None or known[0] is not rule or known[1] is not check:
        known = _PART_RULES[key] = (rule, check, dataclasses.replace(rule, check=check))
    return known[2]


def _report(rule: Rule, model: ProjectModel, exc: Exception) -> None:
    detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
    model.problems.append(Problem(model.root, f"internal error in rule {rule.id}: {detail}"))


# (rule id, path or None) -> (key, findings)
Memo = dict[tuple[str, Path | None], tuple[Hashable, list[Finding]]]
# (rule id, path) -> class outline key -> member text -> the member's findings, their offsets
# relative to the member's start (or WHOLE_CLASS)
# (for statement rules: None -> the exec() call's content -> its findings)
MemberMemo = dict[tuple[str, Path], dict[Any, Any]]


class IncrementalRules:
    """Runs rules for a set of published files, reusing results whose inputs are the same
    objects as in the previous analysis. One per language-server engine (one worker thread)."""

    def __init__(self) -> None:
        self.memo: Memo = {}
        # per (rule id, scope root): a SCOPE rule's facts kept across analyses (_indexed)
        self.indexes: dict[tuple[str, Path], Any] = {}
        self.members: MemberMemo = {}
        self.runs = 0  # rule runs that were not memo hits (tests read it)
        self.hits = 0
        self.member_runs = 0  # members re-checked alone (tests read it)
        self.member_hits = 0  # members whose findings were reused
        self.call_runs = 0  # exec() calls re-checked alone (tests read it)
        self.call_hits = 0  # exec() calls whose findings were reused
        self.quiet_runs = 0  # exec() calls checked by a QUIET_CALLS rule (tests read it)
        self.quiet_hits = 0  # exec() calls a QUIET_CALLS rule skipped as quiet
        self.rest_hits = 0  # statement rules' rest statements skipped (`_rest_checked`)
        self.named_runs = 0  # classes a NAMED_MEMBERS rule ran on (tests read it)
        self.named_hits = 0  # classes whose NAMED_MEMBERS findings were reused

    def _indexed(
        self, rule: Rule, model: ProjectModel, roots: list[Path], wanted: set[Path]
    ) -> list[Finding]:
        """A SCOPE rule over the open files' scopes from each scope's index (SCOPE_INDEXES:
        unbounded-table-growth's GrowthIndex) kept since the previous analysis and updated by
        the statements that changed."""
        index_type = SCOPE_INDEXES[rule.id]
        for stale in [k for k in self.indexes if k[0] == rule.id and k[1] not in roots]:
            del self.indexes[stale]
        found: list[Finding] = []
        for root in roots:
            statements = model._statements_by_scope.get(root, [])
            slot = (rule.id, root)
            if not statements:
                self.indexes.pop(slot, None)
                continue
            self.runs += 1
            try:
                schema = model.schema_for(statements[0].file.path)
                index = self.indexes.pop(slot, None)
                index = (
                    index.updated(statements, schema)
                    if isinstance(index, index_type)
                    else index_type.of(statements, schema)
                )
                found.extend(
                    f for f in index.findings(statements, schema, wanted) if f.path in wanted
                )
            except OverBudget:
                raise
            except Exception as exc:  # as _run: a rule's bug must not hide the others' findings
                detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
                model.problems.append(
                    Problem(model.root, f"internal error in rule {rule.id}: {detail}")
                )
                return found
            self.indexes[slot] = index  # only a complete update is kept
        return found

    def forget(self, keep: Iterable[Path]) -> None:
        """Drop memoised results of files no longer published."""
        wanted = set(keep)
        for key in [k for k in self.memo if k[1] is not None and k[1] not in wanted]:
            del self.memo[key]
        for mkey in [k for k in self.members if k[1] not in wanted]:
            del self.members[mkey]

    def findings(
        self,
        model: ProjectModel,
        rules: Iterable[Rule],
        paths: Iterable[Path],
    ) -> list[Finding]:
        """The raw findings (before suppressions, severities, dedupe) of `rules` that land in
        `paths` (sources or configs of the model)."""
        wanted = set(paths)
        files = [f for f in model.files if f.path in wanted]
        config_open = any(c.path in wanted for c in model.configs)
        facts = _Facts(model)
        units: _Units | None = None
        found: list[Finding] = []
        members: dict[int, tuple[DurableObjectClass, _Members | None]] = {}
        calls: dict[Path, _Calls] = {}
        reached: dict[Path, tuple[SourceFile, list[DurableObjectClass], tuple[Any, ...]]] = {}
        for rule in rules:
            scope = scope_of(rule)
            # below the unit: member-local class rules by member, call-local SQL rules by call
            local: Any = None
            reuse: Callable[..., list[Finding]] | None = None
            kept: Any = None
            if scope.unit == CLASS:
                local = MEMBER_LOCAL.get(rule.id)
                reuse, kept = self._by_member, members
            elif scope.unit == STATEMENT:
                local = STATEMENT_LOCAL.get(rule.id)
                reuse, kept = self._by_call, calls
                if local is None and rule.id in QUIET_CALLS:
                    local, reuse = QUIET_CALLS[rule.id], self._by_quiet_call
                    kept = (calls, facts)
            named = NAMED_MEMBERS.get(rule.id) if scope.unit == CLASS else None
            if named is not None:
                if units is None:
                    units = _Units(model)
                for file in files:
                    items = units.of(CLASS, file)
                    if items:
                        whole_key: Hashable = (file, tuple(items), facts.of(scope.facts, file.path))
                        found.extend(self._by_names(rule, named, model, file, items, whole_key))
                if config_open:  # as for the member-local rules
                    empty = ScopedModel(model, CLASS, [])
                    whole = facts.of(WHOLE, None)
                    found.extend(self._run(rule, empty, (rule.id, None), whole, wanted, model))
                continue
            if local is not None and reuse is not None:
                if units is None:
                    units = _Units(model)
                for file in files:
                    items = units.of(scope.unit, file)
                    if items:
                        found.extend(reuse(rule, local, model, file, items, kept))
                if config_open:
                    # what the rule says outside its units (as for the other unit rules)
                    empty = ScopedModel(model, scope.unit, [])
                    whole = facts.of(WHOLE, None)
                    found.extend(self._run(rule, empty, (rule.id, None), whole, wanted, model))
                continue
            if scope.unit in (CLASS, STATEMENT, ACCESS, FILE):
                if units is None:
                    units = _Units(model)
                part = FILE_PARTS.get(rule.id) if scope.unit == FILE else None
                unit_rule = rule if part is None else _part_rule(rule, part.in_sources)
                for file in files:
                    items = units.of(scope.unit, file)
                    if not items:
                        continue  # a rule iterating its units finds nothing without them
                    key: Hashable | None = None
                    if part is not None:
                        if part.facts != VOLATILE:
                            key = (file, tuple(items), facts.of(part.facts, file.path))
                    elif scope.facts != VOLATILE:
                        key = (file, tuple(items), self._facts(facts, scope, file, items))
                    view = ScopedModel(model, scope.unit, items)
                    found.extend(
                        self._run(unit_rule, view, (rule.id, file.path), key, {file.path}, model)
                    )
                if part is not None:
                    if config_open:  # the rest reports only outside source files
                        view = ScopedModel(model, scope.unit, [])
                        found.extend(
                            self._run(
                                _part_rule(rule, part.elsewhere),
                                view,
                                (rule.id, None),
                                None,
                                wanted,
                                model,
                            )
                        )
                elif scope.unit in (FILE, ACCESS) or config_open:
                    # what the rule says outside its units (deploy scripts, configs): a run
                    # with no units, its findings in the published files
                    view = ScopedModel(model, scope.unit, [])
                    slot: tuple[str, Path | None] = (rule.id, None)
                    key = None if scope.facts == VOLATILE else facts.of(WHOLE, None)
                    found.extend(self._run(rule, view, slot, key, wanted, model))
            elif scope.unit == REACH:
                if units is None:
                    units = _Units(model)
                any_class = REACH_ANY_CLASS.get(rule.id)
                extra = REACH_FACTS.get(rule.id)
                for file in files:
                    slot = (rule.id, file.path)
                    if any_class is not None and any_class(file):
                        # findings here may come from any class: the whole model, each time
                        found.extend(self._run(rule, model, slot, None, {file.path}, model))
                        continue
                    # the classes reached and the accesses reaching them: the same for each
                    # REACH rule of this analysis (found once per file)
                    reach = reached.get(file.path)
                    if reach is None or reach[0] is not file:
                        classes = _reached(model, units, file)
                        reach = reached[file.path] = (
                            file,
                            classes,
                            (
                                file,
                                tuple(classes),
                                tuple(tuple(_accesses_to(model, c)) for c in classes),
                                facts.configs(),
                            ),
                        )
                    classes = reach[1]
                    if not classes:
                        self.memo.pop(slot, None)
                        continue  # no class here nor reached from here: nothing lands here
                    key = (*reach[2], extra(model) if extra is not None else None)
                    view = ScopedModel(model, CLASS, classes)
                    found.extend(self._run(rule, view, slot, key, {file.path}, model))
            elif scope.unit == SCOPE:
                roots = {model._scope_root(f.path) for f in files}
                if not roots:
                    continue
                if rule.id in SCOPE_INDEXES and scope.facts != VOLATILE:
                    found.extend(self._indexed(rule, model, sorted(roots), wanted))
                    continue
                items = [s for r in sorted(roots) for s in model._statements_by_scope.get(r, ())]
                key = None
                if scope.facts != VOLATILE:
                    key = (tuple(sorted(roots)), tuple(items), facts.configs())
                view = ScopedModel(model, STATEMENT, items)
                found.extend(self._run(rule, view, (rule.id, None), key, wanted, model))
            else:
                if scope.configs_only and not config_open:
                    continue
                key = None if scope.facts == VOLATILE else facts.of(scope.facts, None)
                found.extend(self._run(rule, model, (rule.id, None), key, wanted, model))
        return found

    def _by_member(
        self,
        rule: Rule,
        local: MemberLocal,
        model: ProjectModel,
        file: SourceFile,
        classes: list[DurableObjectClass],
        members: dict[int, tuple[DurableObjectClass, _Members | None]],
    ) -> list[Finding]:
        """A member-local rule's findings in the classes of one file: each class's unchanged
        members reused from the previous analysis, the others checked alone; a class seen for
        the first time (or with most of its members new) checked whole and split by member."""
        slot = (rule.id, file.path)
        before = self.members.get(slot, {})
        after: dict[Hashable, _Kept | str] = {}
        found: list[Finding] = []
        path = file.path
        for cls in classes:
            known = members.get(id(cls))
            if known is None or known[0] is not cls:
                known = members[id(cls)] = (cls, _Members.kept(cls))
            parts = known[1]
            if parts is None:  # nested in a function, or no body: the whole class every time
                found.extend(self._whole_class(rule, model, cls) or [])
                continue
            outline = (local.outline(cls, model), parts.head)
            previous = before.get(outline)
            if isinstance(previous, _Kept):
                # the texts checked before are skipped by a set difference (no loop over the
                # members in Python); only members with findings are looked at
                misses = parts.positions.keys() - previous.seen
                if len(misses) <= max(8, len(parts.positions) // 4):
                    reused = self._reuse(rule, local, model, cls, parts, previous, misses)
                    if reused is not None:
                        after[outline] = reused[0]
                        found.extend(reused[1])
                        continue
            result = self._whole_class(rule, model, cls)
            if result is None:
                continue  # failed: checked whole again next time
            found.extend(result)
            split = self._split(result, local, path, parts)
            after[outline] = WHOLE_CLASS if split is None else split
        self.members[slot] = after
        return found

    def _by_names(
        self,
        rule: Rule,
        named: NamedMembers,
        model: ProjectModel,
        file: SourceFile,
        classes: list[DurableObjectClass],
        key: Hashable,
    ) -> list[Finding]:
        """A NAMED_MEMBERS rule's findings in the classes of one file: the file's whole result
        when its classes and facts are the same objects (as `_run`), else each class's reused
        when the members it read have the same texts, the others run over the class."""
        slot = (rule.id, file.path)
        cached = self.memo.get(slot)
        if cached is not None and cached[0] == key:
            self.hits += 1
            return list(cached[1])
        before: dict[Hashable, _Named] = self.members.get(slot, {})
        after: dict[Hashable, _Named] = {}
        found: list[Finding] = []
        failed = False
        for cls in classes:
            outline = named.outline(cls, model)
            previous = before.get(outline)
            if (
                previous is not None
                and _read_texts(cls, (n for n, _ in previous.reads)) == previous.reads
                and _top_level(cls)
            ):
                self.named_hits += 1
                marker = Rerun(rule, CLASS, [cls])
                methods = cls.methods
                found.extend(
                    _shifted(f, methods[name].start_byte, named.offsets, marker)
                    for name, f in previous.found
                )
                after[outline] = previous
                continue
            self.runs += 1
            self.named_runs += 1
            try:
                result = [
                    f for f in rule.check(ScopedModel(model, CLASS, [cls])) if f.path == file.path
                ]
            except OverBudget:
                raise
            except Exception as exc:  # reported once per file, as one run over its classes
                if not failed:
                    _report(rule, model, exc)
                failed = True
                continue
            found.extend(result)
            if not _top_level(cls):
                continue
            kept = self._named(cls, named, result)
            if kept is not None:
                after[outline] = kept
        self.members[slot] = after
        if failed:
            self.memo.pop(slot, None)
        else:
            self.memo[slot] = (key, found)
        return list(found)

    @staticmethod
    def _named(
        cls: DurableObjectClass, named: NamedMembers, result: list[Finding]
    ) -> _Named | None:
        """The class's findings by the member they lie in (offsets relative to its start);
        None when one lies outside every member read."""
        try:
            reads = _read_texts(cls, sorted(named.reads(cls)))
        except Exception:  # the declaration failed on this class: run every time
            return None
        path = cls.file.path
        nodes = [(name, cls.methods[name]) for name, text in reads if text is not None]
        kept: list[tuple[str, Finding]] = []
        for finding in result:
            for name, node in nodes:
                if _within(finding, path, node.start_byte, node.end_byte, named.offsets):
                    kept.append((name, _shifted(finding, -node.start_byte, named.offsets, None)))
                    break
            else:
                return None
        return _Named(reads, kept)

    def _by_call(
        self,
        rule: Rule,
        local: MemberLocal,
        model: ProjectModel,
        file: SourceFile,
        stmts: list[SqlStatement],
        calls: dict[Path, _Calls],
    ) -> list[Finding]:
        """A call-local statement rule's findings in one file: each exec() call's findings
        reused by its content, new calls checked alone; the statements that cannot be reused
        checked on every run."""
        path = file.path
        parts = calls.get(path)
        if parts is None:
            parts = calls[path] = _Calls.kept(file, stmts)
        slot = (rule.id, path)
        if slot not in self.members:
            # the file just opened (most likely not edited next): one run over it all; the
            # next run checks each call alone and keeps its findings
            self.members[slot] = {None: {}}
            return self._checked(rule, model, path, stmts)
        # the memo is keyed by each call's content number (_Calls.ids: one per distinct key,
        # carried with the calls outside an edit), so the look-ups hash no content
        memo: dict[int, list[Finding]] = self.members[slot].get(None, {})
        ids = parts.ids
        values: list[list[Finding] | None] = list(map(memo.get, ids))
        misses = list(
            itertools.compress(
                range(len(values)), map(operator.is_, values, itertools.repeat(None))
            )
        )
        for index in misses:
            start = parts.starts[index]
            self.call_runs += 1
            try:
                own = self._checked(rule, model, path, parts.group(index), contain=False)
            except OverBudget:
                raise
            except Exception:  # reported once, by the run over the whole file below
                own = None
            end = parts.calls[index][1]
            if own is None or not all(_within(f, path, start, end, local.offsets) for f in own):
                # not call-local after all: every statement of the file, once
                self.members.pop(slot, None)
                return self._checked(rule, model, path, stmts)
            values[index] = [_shifted(f, -start, local.offsets, None) for f in own]
        self.call_hits += len(values) - len(misses)
        found: list[Finding] = []
        for index in itertools.compress(range(len(values)), values):
            relative = values[index]
            start = parts.starts[index]
            marker = Rerun(rule, STATEMENT, parts.group(index))
            found.extend(_shifted(f, start, local.offsets, marker) for f in relative or ())
        rest = self._rest_checked(
            rule,
            model,
            path,
            parts,
            self.members[slot].get(_REST),
            True,
            unsettled=UNSETTLED_REST.get(rule.id),
        )
        found.extend(rest[0])
        if len(memo) + len(misses) > 2 * len(ids) + 64:
            # calls typed and gone: only the current ones are kept
            self.members[slot] = {None: dict(zip(ids, values, strict=True)), _REST: rest[1]}
        else:  # the new calls added (a number is one content: the others are as they were)
            for index in misses:
                memo[ids[index]] = values[index]  # type: ignore[assignment]
            self.members[slot] = {None: memo, _REST: rest[1]}
        return found

    def _rest_checked(
        self,
        rule: Rule,
        model: ProjectModel,
        path: Path,
        parts: _Calls,
        known: Hashable,
        contain: bool,
        context: Hashable = None,
        unsettled: Callable[[ProjectModel, SqlStatement], bool] | None = None,
    ) -> tuple[list[Finding], Hashable]:
        """The rule's findings in the statements no call takes (`parts.rest`), and what to
        keep for the next analysis: (the rest's token, the context) when it found nothing
        there, none of them is unsettled and nothing was reported; then the next analysis
        whose rest is the same statements moved (`_Calls.rest_token`) under the same context
        skips them. A finding there is checked again each time (as before)."""
        if not parts.rest:
            return [], None
        mark = (parts.rest_token, context)
        if known == mark:
            self.rest_hits += 1
            return [], mark
        problems = len(model.problems)
        found = self._checked(rule, model, path, parts.rest, contain=contain)
        if found or len(model.problems) != problems:
            return found, None
        if unsettled is not None and any(unsettled(model, s) for s in parts.rest):
            # quiet for a reason the context does not hold: a query that plans only because
            # another statement's text names its table as renamed into (the text of an INSERT,
            # no part of the catalogue) turns loud when that text changes (in another member
            # or file: tests/test_speed_guards.py)
            return found, None
        return found, mark

    def _by_quiet_call(
        self,
        rule: Rule,
        quiet: QuietCalls,
        model: ProjectModel,
        file: SourceFile,
        stmts: list[SqlStatement],
        kept: tuple[dict[Path, _Calls], _Facts],
    ) -> list[Finding]:
        """A statement rule that reads the scope (QUIET_CALLS), in one file: the exec() calls
        known to be quiet under the file's current context are skipped (found at C speed by
        their content numbers); the others, and the statements no call reuse takes, are
        checked, and those of the checked calls that turn out quiet are remembered. A file
        that is not the one edited (the same object as last time) has its findings reused
        while its statements and their scopes' facts are the same objects (as `_run`)."""
        calls, facts = kept
        path = file.path
        slot = (rule.id, path)
        context = quiet.context(model, file)
        whole = self.memo.get(slot)
        key: tuple[Any, ...] = (file,)
        if whole is None or whole[0][0] is file:  # type: ignore[index]  # not re-parsed
            key = (
                file,
                tuple(stmts),
                self._facts(facts, scope_of(rule), file, stmts),
                context,
            )
            if whole is not None and whole[0] == key:
                self.hits += 1
                return list(whole[1])
        problems = len(model.problems)
        found = self._quiet_calls(rule, quiet, model, file, stmts, calls, context)
        if len(model.problems) == problems:
            self.memo[slot] = (key, found)
        else:  # a failed run is not kept: it runs (and is reported) again
            self.memo.pop(slot, None)
        return list(found)

    def _quiet_calls(
        self,
        rule: Rule,
        quiet: QuietCalls,
        model: ProjectModel,
        file: SourceFile,
        stmts: list[SqlStatement],
        calls: dict[Path, _Calls],
        context: Hashable,
    ) -> list[Finding]:
        path = file.path
        parts = calls.get(path)
        if parts is None:
            parts = calls[path] = _Calls.kept(file, stmts)
        slot = (rule.id, path)
        kept = self.members.get(slot, {})
        known = kept.get(None)
        quiet_ids: set[int] = known[1] if known is not None and known[0] == context else set()
        rest_mark: Hashable = None
        ids = parts.ids
        loud = list(
            itertools.compress(
                range(len(ids)), map(operator.not_, map(quiet_ids.__contains__, ids))
            )
        )
        self.quiet_hits += len(ids) - len(loud)
        found: list[Finding] = []
        asked = [s for index in loud for s in parts.group(index)]
        self.quiet_runs += len(loud)
        try:
            rest, rest_mark = self._rest_checked(
                rule, model, path, parts, kept.get(_REST), False, context, quiet.unsettled
            )
            found.extend(rest)
            own = self._checked(rule, model, path, asked, contain=False) if asked else []
        except OverBudget:
            raise
        except Exception as exc:  # reported once; nothing is learnt from a failed run
            _report(rule, model, exc)
            self.members[slot] = {None: (context, quiet_ids)}
            return found
        if loud:
            found.extend(own)
            # the calls with a finding (each lies in its statement's SQL, in its call); a
            # finding elsewhere cannot be told apart: then no call is learnt quiet this time
            starts = [parts.starts[index] for index in loud]
            noisy: set[int] = set()
            for finding in own:
                at = bisect.bisect_right(starts, finding.span.start) - 1
                if (
                    at < 0
                    or finding.span.path != path
                    or finding.span.end > parts.calls[loud[at]][1]
                ):
                    noisy.update(range(len(loud)))
                    break
                noisy.add(at)
            unsettled = quiet.unsettled
            for at, index in enumerate(loud):
                if at in noisy:
                    continue
                if unsettled is not None and any(unsettled(model, s) for s in parts.group(index)):
                    continue
                quiet_ids.add(ids[index])
        if len(quiet_ids) > 2 * len(ids) + 256:
            # calls typed and gone: only the current ones are kept
            quiet_ids = quiet_ids.intersection(ids)
        self.members[slot] = {None: (context, quiet_ids), _REST: rest_mark}
        return found

    def _checked(
        self,
        rule: Rule,
        model: ProjectModel,
        path: Path,
        items: list[Any],
        contain: bool = True,
    ) -> list[Finding]:
        self.runs += 1
        view = ScopedModel(model, STATEMENT, items)
        try:
            return [f for f in rule.check(view) if f.path == path]
        except OverBudget:
            raise
        except Exception as exc:  # a bug in one rule must not hide the others' findings
            if not contain:
                raise
            _report(rule, model, exc)
            return []

    def _whole_class(
        self, rule: Rule, model: ProjectModel, cls: DurableObjectClass
    ) -> list[Finding] | None:
        """The rule's findings in one class; None when it failed (reported, nothing kept)."""
        self.runs += 1
        view = ScopedModel(model, CLASS, [cls])
        try:
            return [f for f in rule.check(view) if f.path == cls.file.path]
        except OverBudget:
            raise
        except Exception as exc:  # a bug in one rule must not hide the others' findings
            _report(rule, model, exc)
            return None

    @staticmethod
    def _split(
        result: list[Finding], local: MemberLocal, path: Path, parts: _Members
    ) -> _Kept | None:
        """A whole-class result by member, offsets relative to the member's start; None when a
        finding is not inside one member, or members of the same text differ (the rule is not
        member-local for this class)."""
        by_index: dict[int, list[Finding]] = {}
        for finding in result:
            index = parts.index_of(finding.span.start, finding.span.end)
            if index is None:
                return None
            node = parts.nodes[index]
            if not _within(finding, path, node.start_byte, node.end_byte, local.offsets):
                return None
            by_index.setdefault(index, []).append(
                _shifted(finding, -node.start_byte, local.offsets, None)
            )
        found: dict[bytes, list[Finding]] = {}
        for text, indices in parts.positions.items():
            relative = by_index.get(indices[0], [])
            for other in indices[1:]:
                if _relative_key(by_index.get(other, [])) != _relative_key(relative):
                    return None
            if relative:
                found[text] = relative
        return _Kept(parts.texts_seen(), found)

    def _reuse(
        self,
        rule: Rule,
        local: MemberLocal,
        model: ProjectModel,
        cls: DurableObjectClass,
        parts: _Members,
        previous: _Kept,
        misses: Iterable[bytes],
    ) -> tuple[_Kept, list[Finding]] | None:
        """The class's findings from its members: reused where the member's text was checked
        before, checked alone elsewhere (and in members with a syntax error). None when a
        member's findings reach outside it."""
        path = cls.file.path
        marker = Rerun(rule, CLASS, [cls])
        fresh: dict[bytes, list[Finding]] = {}
        found: list[Finding] = []

        def alone(index: int) -> list[Finding] | None:
            node = parts.nodes[index]
            start = node.start_byte
            self.member_runs += 1
            view = ScopedModel(model, CLASS, [member_view(cls, node)])
            try:
                own = [f for f in rule.check(view) if f.path == path]
            except OverBudget:
                raise
            except Exception:  # the whole-class run reports it
                return None
            if not all(_within(f, path, start, node.end_byte, local.offsets) for f in own):
                return None
            return [_shifted(f, -start, local.offsets, None) for f in own]

        for text in misses:
            relative = alone(parts.positions[text][0])
            if relative is None:
                return None
            fresh[text] = relative
        for index in parts.errors:
            relative = alone(index)
            if relative is None:
                return None
            start = parts.starts[index]
            found.extend(_shifted(f, start, local.offsets, marker) for f in relative)
        self.member_hits += len(parts.positions) - len(fresh)
        kept: dict[bytes, list[Finding]] = {}
        positions = parts.positions
        for source in (previous.found, fresh):
            for text, relative in source.items():
                indices = positions.get(text)
                if indices is None or not relative:
                    continue  # a member no longer there
                kept[text] = relative
                for index in indices:
                    start = parts.starts[index]
                    found.extend(_shifted(f, start, local.offsets, marker) for f in relative)
        return _Kept(parts.texts_seen(), kept), found

    @staticmethod
    def _facts(facts: _Facts, scope: Scope, file: SourceFile, items: list[Any]) -> Hashable:
        if scope.facts != SCOPE_SQL or scope.unit != STATEMENT:
            return facts.of(scope.facts, file.path)
        # a statement's SQL may live in another file than its exec call, in another Worker
        # scope (a shared constants module): every scope its statements belong to (the same
        # for each statement rule of the file: once per analysis)
        known = facts.statement_scopes.get(id(items))
        if known is not None and known[0] is items:
            return known[1]
        files = {id(file): file}
        for stmt in items:
            files[id(stmt.file)] = stmt.file
            files[id(stmt.call_file)] = stmt.call_file
        roots = {facts.model._scope_root(f.path): f.path for f in files.values()}
        found = tuple(facts.of(SCOPE_SQL, roots[r]) for r in sorted(roots))
        facts.statement_scopes[id(items)] = (items, found)
        return found

    def _run(
        self,
        rule: Rule,
        view: ProjectModel,
        slot: tuple[str, Path | None],
        key: Hashable | None,
        keep: set[Path],
        whole: ProjectModel,
    ) -> list[Finding]:
        if key is not None:
            cached = self.memo.get(slot)
            if cached is not None and cached[0] == key:
                self.hits += 1
                return [f for f in cached[1] if f.path in keep]
        self.runs += 1
        try:
            result = list(rule.check(view))
        except OverBudget:
            raise  # the file, not the rule: analyse_within_budget skips it
        except Exception as exc:  # a bug in one rule must not hide the others' findings
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            whole.problems.append(
                Problem(whole.root, f"internal error in rule {rule.id}: {detail}")
            )
            self.memo.pop(slot, None)
            return []
        if slot[1] is not None:
            result = [f for f in result if f.path == slot[1]]
        if key is not None:
            self.memo[slot] = (key, result)
        else:
            self.memo.pop(slot, None)
        return [f for f in result if f.path in keep]


__all__ = [
    "ACCESS",
    "CLASS",
    "CLASSES",
    "CONFIGS",
    "FILE",
    "FILE_PARTS",
    "MEMBER_LOCAL",
    "NAMED_MEMBERS",
    "NONE",
    "PROJECT",
    "QUIET_CALLS",
    "REACH",
    "REACH_ANY_CLASS",
    "REACH_FACTS",
    "SCOPE",
    "SCOPES",
    "SCOPE_INDEXES",
    "SCOPE_SQL",
    "STATEMENT",
    "STATEMENT_LOCAL",
    "UNSETTLED_REST",
    "VOLATILE",
    "WHOLE",
    "ContentMemo",
    "FileParts",
    "IncrementalRules",
    "MemberLocal",
    "NamespaceAccess",
    "QuietCalls",
    "Rerun",
    "Scope",
    "ScopedModel",
    "SqlStatement",
    "fresh_state",
    "scope_of",
]
