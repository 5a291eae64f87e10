"""What the rules declare for the language server's reuse of their findings, and the content
memo they share: the declarations `analyzers/incremental.py` reads, kept apart from the engine so
that a `check`, which imports every rule but never the engine, does not import it (issue 14
item 5: the engine's module body, with its dataclasses, cost ~2.7 ms of every cold check).
`incremental` re-exports every name here, so the server's code reads them from there unchanged;
the rules import them from here (tests/test_speed_startup.py checks a check loads no
`incremental`). The rules fill the registries (`REACH_FACTS`, `REACH_ANY_CLASS`,
`SCOPE_INDEXES`, `FILE_PARTS`, `QUIET_CALLS`, `UNSETTLED_REST`) when they are imported; this module imports none
of the analysis at run time."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from durable_harden.analyzers.records import frozen

if TYPE_CHECKING:
    from durable_harden.analyzers.findings import Finding
    from durable_harden.analyzers.model import ProjectModel
    from durable_harden.analyzers.source import SourceFile
    from durable_harden.analyzers.sql import SqlStatement

T = TypeVar("T")


class ContentMemo:
    """A bounded memo of a pure function of content (SQL text, a schema's catalogue key), not
    of positions: its results carry over to the statements re-extracted from an edited file.
    Least recently used out first."""

    def __init__(self, capacity: int = 16384) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        entries = self.entries
        try:
            value = entries[key]
        except KeyError:
            value = entries[key] = compute()
            if len(entries) > self.capacity:
                entries.popitem(last=False)
            return value  # type: ignore[no-any-return]
        entries.move_to_end(key)
        return value  # type: ignore[no-any-return]


# units: the model list a rule iterates, restricted to one open file in a scoped run
CLASS = "classes"
STATEMENT = "statements"
ACCESS = "namespace_accesses"
FILE = "files"
SCOPE = "scope"  # the statements of every Worker scope holding an open file, in one run
# the classes an open file declares or reaches through its namespace accesses, each with every
# access reaching it anywhere (call sites): findings at a class or at its call sites
REACH = "reach"
PROJECT = "project"  # the whole model

# facts: what else a unit's findings depend on
NONE = "none"
CONFIGS = "configs"  # the wrangler configs (bytes)
CLASSES = "classes"  # configs + every class object (classes_named, base classes, bindings)
SCOPE_SQL = "scope_sql"  # configs + every statement of the file's Worker scope (schema)
WHOLE = "whole"  # configs + every file and extracted object of the project
VOLATILE = "volatile"  # reads files outside the model or git: never memoised


# REACH rules: what else of the project they read (in the key), and when a file's findings may
# come from any class (then the rule runs over the whole model for that file, unmemoised).
# Filled by the rules' modules (rules import this module, never the reverse).
REACH_FACTS: dict[str, Callable[[ProjectModel], Hashable]] = {}
REACH_ANY_CLASS: dict[str, Callable[[SourceFile], bool]] = {}
# SCOPE rules whose facts are kept per scope and updated by the changed statements: rule id ->
# a class with `of(statements, schema)`, `updated(statements, schema)` and
# `findings(statements, schema, published paths)` (IncrementalRules._indexed)
SCOPE_INDEXES: dict[str, Any] = {}


@frozen
class FileParts:
    """A FILE rule whose findings in source files come from one part of it (`in_sources`, over
    the view's files) that reads only those files and the project facts `facts`, while the rest
    of it (`elsewhere`, run with no units) reads files outside the model (VOLATILE) and reports
    only outside source files: the language server runs that part only while a config is
    open. Filled by the rules' modules (rollout-unsafe)."""

    in_sources: Callable[[ProjectModel], Iterable[Finding]]
    facts: str
    elsewhere: Callable[[ProjectModel], Iterable[Finding]]
    reason: str


FILE_PARTS: dict[str, FileParts] = {}


@frozen
class QuietCalls:
    """A statement rule that reads the scope (the schema, the growing tables), kept per exec()
    call by whether it is *quiet* there: it finds nothing in the call's statements, and that
    follows from the call's content (`_Calls` keys) and the file's `context` alone. Quiet calls
    are not checked again while the context is the same; the others (new or edited calls,
    calls with findings, calls with a statement the rule calls `unsettled`: one whose findings
    read more than the context, such as the code around the call) are checked on every run,
    with the statements no call reuse takes. The rule promises that each finding about a
    statement of a call lies inside that call (its span is in the statement's SQL). Filled by
    the rules' modules (sql-missing-index, sql-unbounded-read, schema-change-without-migration).
    """

    context: Callable[[ProjectModel, SourceFile], Hashable]
    unsettled: Callable[[ProjectModel, SqlStatement], bool] | None
    reason: str


QUIET_CALLS: dict[str, QuietCalls] = {}

# A call-local statement rule (incremental.STATEMENT_LOCAL) whose answer for a statement no
# call takes (one with a `${…}`: the rest) may read code outside the statement's member: such a
# statement is `unsettled`, checked on every run, not skipped with a quiet rest whose token an
# edit of another member carried (incremental.IncrementalRules._rest_checked). Filled by the
# rules' modules (sql-too-many-params: a generated list's bound named by a constant, which it
# looks up in the whole file).
UNSETTLED_REST: dict[str, Callable[[ProjectModel, SqlStatement], bool]] = {}

__all__ = [
    "ACCESS",
    "CLASS",
    "CLASSES",
    "CONFIGS",
    "FILE",
    "FILE_PARTS",
    "NONE",
    "PROJECT",
    "QUIET_CALLS",
    "REACH",
    "REACH_ANY_CLASS",
    "REACH_FACTS",
    "SCOPE",
    "SCOPE_INDEXES",
    "SCOPE_SQL",
    "STATEMENT",
    "UNSETTLED_REST",
    "VOLATILE",
    "WHOLE",
    "ContentMemo",
    "FileParts",
    "QuietCalls",
]
