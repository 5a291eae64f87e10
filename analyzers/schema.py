"""The project's SQL schema, built by SQLite itself from every CREATE / ALTER found in the code.

SQLite is the judge: an in-memory database receives the project's DDL, and its catalogue gives
the tables, columns, primary keys and indexes. The same database answers EXPLAIN QUERY PLAN.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.sql import SqlStatement, normalize_for_parse

_DDL_KINDS = ("CREATE", "ALTER")
_KEY_KINDS = (*_DDL_KINDS, "DROP")  # what a catalogue is a function of (Schema.content_key)
_NAME = r"[\"`\[]?(\w+)[\"`\]]?"
_RENAME_TABLE = re.compile(rf"\s*ALTER\s+TABLE\s+{_NAME}\s+RENAME\s+TO\s+{_NAME}", re.I)
_DROP_TABLE = later(rf"\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_NAME}", re.I)
_CREATE_TABLE = re.compile(
    rf"\s*CREATE\s+(?:TEMP\w*\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.I
)
# an index that every start creates again if it is missing (`CREATE INDEX IF NOT EXISTS … ON t`)
_CREATE_INDEX_IF_MISSING = re.compile(
    rf"\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\s+{_NAME}\s+ON\s+{_NAME}", re.I
)
_BINDINGS_NEEDED = re.compile(r"uses (\d+), and there")
_RESERVED_PREFIX = "_cf_"


@dataclass
class Index:
    """An index of a table: a CREATE INDEX, a UNIQUE constraint or the primary key."""

    name: str
    table: str
    columns: list[str]
    unique: bool
    origin: str  # "c" CREATE INDEX, "u" UNIQUE constraint, "pk" PRIMARY KEY
    statement: SqlStatement | None = None


@dataclass
class Table:
    """A table as the project's CREATE and ALTER statements define it."""

    name: str
    columns: list[str]
    primary_key: list[str]
    without_rowid: bool
    statements: list[SqlStatement] = field(default_factory=list)  # CREATE first, then ALTERs

    @property
    def create(self) -> SqlStatement | None:
        return next((s for s in self.statements if s.kind == "CREATE"), None)


@dataclass
class PlanStep:
    """One row of SQLite's EXPLAIN QUERY PLAN (its detail text)."""

    detail: str

    @property
    def scanned_table(self) -> str | None:
        """The table (or its alias) read row by row, without any index: `SCAN t`."""
        match = re.fullmatch(r"SCAN (\w+)(?: AS (\w+))?", self.detail)
        return match.group(1) if match else None

    @property
    def temp_btree_order(self) -> bool:
        return self.detail.startswith("USE TEMP B-TREE FOR ORDER BY")


@dataclass
class QueryPlan:
    """SQLite's plan for a query, or the error SQLite gave instead."""

    steps: list[PlanStep]
    error: str | None = None


class Schema:
    # what this schema shares with the others whose database is the same (plans, trial
    # indexes): the catalogue's `_Built` entry; None for a copy made by `with_index` from DDL
    # other than one CREATE INDEX
    _shared: _Built | None = None
    # a trial made by `with_index(CREATE INDEX …)`: its index is put on the base catalogue's
    # `_Bench` when it plans (`_trial`: the text), and it has a database of its own only when
    # one is asked for (`db`)
    _bench: _Bench | None = None
    _trial: str = ""
    _db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        """The database holding this catalogue (only read: plans and PRAGMAs). A trial's is
        made the first time it is asked for (a copy of its bench with its index)."""
        found = self._db
        if found is None:
            bench = self._bench
            assert bench is not None
            found = sqlite3.connect(":memory:", check_same_thread=False)
            with bench.lock:
                bench.install(self._trial)
                bench.db.backup(found)
            self._db = found
        return found

    @db.setter
    def db(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def __init__(self, ddl: list[SqlStatement]) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.errors: list[tuple[SqlStatement, str]] = []
        self.tables: dict[str, Table] = {}
        self.indexes: dict[str, Index] = {}
        self._statement_of_table: dict[str, list[SqlStatement]] = {}
        self._statement_of_index: dict[str, SqlStatement] = {}
        # what the catalogue is a function of: the DDL texts in order (not their positions).
        # Per-statement results that read only the catalogue are memoised under it
        # (rules/_sql.delete_kinds), so they carry over to the next model.
        applied = [s for s in ddl if s.kind in _DDL_KINDS]
        # the DROPs too: `_apply` reads them (a rename whose copy is dropped is a rebuild, not
        # replayed), so two DDL lists that differ only in a DROP build different catalogues
        self.content_key = _digest((s.kind, s.text) for s in ddl if s.kind in _KEY_KINDS)
        built = _BUILT.get(self.content_key)
        if built is not None and built.size == len(applied) and built.pid == os.getpid():
            built.adopt(self, applied)
        else:
            self._apply(ddl)
            self._read_catalogue()
            built = _BUILT[self.content_key] = _Built.of(self, applied)
            while len(_BUILT) > _BUILT_MAX:
                _BUILT.pop(next(iter(_BUILT)))
        self._shared = built
        self.__dict__["_plans"] = built.shared_plans()

    # -- building -------------------------------------------------------------------------
    def _apply(self, ddl: list[SqlStatement]) -> None:
        # Run every DDL statement in source order (file by file, top to bottom), however each
        # was reached (an exec() call, a wrapper, a loose literal): a migration's
        # `ALTER TABLE t RENAME TO t_old` must run after the CREATE of `t` it renames and before
        # the new CREATE of `t`. Retry the failures while progress is made, so the order in which
        # files were read (an ALTER before its CREATE in another file) does not matter.
        pending = sorted(
            (s for s in ddl if s.kind in _DDL_KINDS),
            key=lambda s: (str(s.file.path), s.offsets[0] if s.offsets else 0),
        )
        # A table rebuilt by a migration (`ALTER TABLE t RENAME TO t_old`, `CREATE TABLE t (…)`,
        # copy, `DROP TABLE t_old`): the end state is the new `t`. DROP is otherwise never
        # replayed (a reset path that drops and re-creates says nothing about the schema), so
        # the rename is not replayed either and the new CREATE replaces the old table.
        dropped = {
            m.group(1).lower()
            for stmt in ddl
            if stmt.kind == "DROP" and (m := _DROP_TABLE().match(stmt.text))
        }
        rebuilt: dict[str, SqlStatement] = {}
        for stmt in pending:
            match = _RENAME_TABLE.match(stmt.text)
            if match and match.group(2).lower() in dropped:
                rebuilt.setdefault(match.group(1).lower(), stmt)
        pending = [s for s in pending if s not in rebuilt.values()]
        seen_texts: set[str] = set()
        # `CREATE INDEX IF NOT EXISTS … ON t` statements replayed so far, per table: a rebuild
        # of `t` drops its indexes (they go with the renamed copy), but those statements create
        # them again on the next start, so the steady state has them on the new `t` (found on a
        # corpus class whose constructor creates its tables and indexes, then migrates one)
        recreated: dict[str, list[str]] = {}
        while pending:
            failed: list[tuple[SqlStatement, str]] = []
            for stmt in pending:
                replaced = self._rebuilt_table(stmt, rebuilt)
                if replaced is not None:
                    self.db.execute(f'DROP TABLE IF EXISTS "{replaced}"')
                text = (
                    normalize_for_parse(stmt.text)
                    if "WITHOUT" not in stmt.text.upper()
                    else stmt.text
                )
                key = stmt.text.strip()
                try:
                    self.db.execute(_ddl_text(stmt, text))
                    seen_texts.add(key)
                    self._remember(stmt)
                    index = _CREATE_INDEX_IF_MISSING.match(stmt.text)
                    if index is not None:
                        recreated.setdefault(index.group(2).lower(), []).append(
                            _ddl_text(stmt, text)
                        )
                    if replaced is not None:
                        for again in recreated.get(replaced, []):
                            # (an error: a column the new table no longer has; the index is gone)
                            with contextlib.suppress(sqlite3.Error):
                                self.db.execute(again)
                except sqlite3.Error as exc:
                    message = str(exc)
                    if "already exists" in message or "duplicate column" in message:
                        self._remember(stmt)
                        continue
                    failed.append((stmt, message))
            if len(failed) == len(pending):
                self.errors.extend(failed)
                break
            pending = [stmt for stmt, _ in failed]

    @staticmethod
    def _rebuilt_table(stmt: SqlStatement, rebuilt: dict[str, SqlStatement]) -> str | None:
        """The table a migration's new `CREATE TABLE t` (after its rename aside) replaces."""
        match = _CREATE_TABLE.match(stmt.text)
        if match is None or match.group(1) or not rebuilt:
            return None
        name = match.group(2).lower()
        rename = rebuilt.get(name)
        if rename is None or rename.file.path != stmt.file.path:
            return None
        return name if rename.offsets[0] < stmt.offsets[0] else None

    def _remember(self, stmt: SqlStatement) -> None:
        upper = stmt.text.upper()
        match = re.search(
            r"(?:CREATE\s+(?:TEMP\w*\s+)?TABLE|ALTER\s+TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?[\"`\[]?(\w+)",
            stmt.text,
            re.I,
        )
        if match and ("TABLE" in upper.split("(")[0]):
            self._statement_of_table.setdefault(match.group(1).lower(), []).append(stmt)
            return
        match = re.search(
            r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?[\"`\[]?(\w+)",
            stmt.text,
            re.I,
        )
        if match:
            self._statement_of_index.setdefault(match.group(1).lower(), stmt)

    def _read_catalogue(self) -> None:
        rows = self.db.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for (name,) in rows:
            info = self.db.execute(f'PRAGMA table_xinfo("{name}")').fetchall()
            columns = [row[1] for row in info if row[6] == 0]  # hidden=0: not generated-hidden
            pk = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0]
            sql_row = self.db.execute(
                "SELECT sql FROM sqlite_schema WHERE type='table' AND name = ?", (name,)
            ).fetchone()
            without_rowid = bool(sql_row and sql_row[0] and "WITHOUT ROWID" in sql_row[0].upper())
            statements = self._statement_of_table.get(name.lower(), [])
            statements.sort(key=lambda s: 0 if s.kind == "CREATE" else 1)
            table = Table(name, columns, pk, without_rowid, statements)
            self.tables[name.lower()] = table
            self._read_indexes(table)

    def _read_indexes(self, table: Table) -> None:
        """The indexes of one table, from the catalogue, into `self.indexes` (in the order
        SQLite lists them, then the rowid when the primary key is it)."""
        self._add_indexes(table, _index_rows(self.db, table.name))

    def _add_indexes(self, table: Table, rows: list[_IndexRow]) -> None:
        """`_read_indexes` with the catalogue's rows of the table's indexes already read."""
        name, pk = table.name, table.primary_key
        for idx_name, unique, origin, cols in rows:
            self.indexes[idx_name.lower()] = Index(
                idx_name,
                name,
                list(cols),
                unique,
                origin,
                self._statement_of_index.get(idx_name.lower()),
            )
        if (
            pk
            and not table.without_rowid
            and len(pk) == 1
            and not any(i.origin == "pk" for i in self.indexes.values() if i.table == name)
        ):
            # INTEGER PRIMARY KEY is the rowid itself: an index in all but name
            self.indexes[f"{name}#rowid".lower()] = Index(f"{name} rowid", name, pk, True, "pk")

    def _index_names(self) -> set[tuple[str, str]]:
        """(index name, table name) of every index in the catalogue (SQLite's own names)."""
        return _index_names_of(self.db)

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """A read of this catalogue's database: a trial on its bench reads the bench with its
        index in place (its own copy is made only when `db` is asked for)."""
        bench = self._bench
        if bench is not None and self._db is None:
            with bench.lock:
                bench.install(self._trial)
                return bench.db.execute(sql, params).fetchall()
        return self.db.execute(sql, params).fetchall()

    @property
    def has_views(self) -> bool:
        """Does the catalogue hold a view (a query may then read a table its text never
        names)?"""
        found = self.__dict__.get("_has_views")
        if found is None:
            rows = self._rows("SELECT 1 FROM sqlite_schema WHERE type = 'view' LIMIT 1")
            found = self.__dict__["_has_views"] = bool(rows)
        return bool(found)

    @property
    def tables_key(self) -> str:
        """What the tables and their columns are a function of (not the indexes): a copy with
        one more index (`with_index`) has its base's tables, so per-statement results that read
        only the tables (rules/_sql.table_uses) are shared with it."""
        key = self.__dict__.get("_tables_key")
        return key if key is not None else self.content_key

    # -- questions ------------------------------------------------------------------------
    def table(self, name: str) -> Table | None:
        return self.tables.get(name.lower())

    def cascade_parents(self, table: str) -> set[str]:
        """Tables whose deleted rows take `table`'s rows with them (`REFERENCES p ON DELETE
        CASCADE`), lower case."""
        known = self.table(table)
        if known is None:
            return set()
        try:
            rows = self._rows(f'PRAGMA foreign_key_list("{known.name}")')
        except sqlite3.Error:
            return set()
        return {str(row[2]).lower() for row in rows if str(row[6]).upper() == "CASCADE"}

    def indexes_of(self, table: str) -> list[Index]:
        # grouped once per schema (asked per query and per finding; the catalogue never
        # changes once the schema is built)
        by_table: dict[str, list[Index]] | None = self.__dict__.get("_indexes_by_table")
        if by_table is None:
            by_table = {}
            for index in self.indexes.values():
                by_table.setdefault(index.table.lower(), []).append(index)
            self.__dict__["_indexes_by_table"] = by_table
        return list(by_table.get(table.lower(), ()))

    def plan(self, sql: str) -> QueryPlan:
        """EXPLAIN QUERY PLAN with every parameter bound to NULL. Planned once per text (the
        database never changes after it is built; the rule and each fix asked again). The plan
        is shared: never change it."""
        plans: dict[str, QueryPlan] | None = self.__dict__.get("_plans")
        if plans is None:
            plans = self.__dict__["_plans"] = {}
        found = plans.get(sql)
        if found is None:
            found = plans[sql] = self._plan(sql)
        return found

    def _plan(self, sql: str) -> QueryPlan:
        bench = self._bench
        if bench is not None and self._db is None:
            with bench.lock:
                bench.install(self._trial)
                return _plan_on(bench.db, sql)
        return _plan_on(self.db, sql)

    def rebased(self, renamed: dict[int, SqlStatement]) -> Schema:
        """This catalogue naming other statement objects (old id -> new statement): the next
        model's schema when an edit re-extracted a file's statements but left every DDL text
        (and DROP) in place. Shares the database and its plans (both read only)."""
        clone = Schema.__new__(Schema)
        if self._db is not None:
            clone.db = self._db
        clone._shared, clone._bench, clone._trial = self._shared, self._bench, self._trial
        clone.content_key = self.content_key
        if "_tables_key" in self.__dict__:
            clone.__dict__["_tables_key"] = self.__dict__["_tables_key"]
        plans = self.__dict__.get("_plans")
        if plans is not None and len(plans) < _PLANS_SHARED_MAX:
            # the same catalogue: its plans carry over (a chain of rebased schemas would grow
            # them by every text typed in a query: past the bound, the clone starts afresh)
            clone.__dict__["_plans"] = plans

        def one(stmt: SqlStatement) -> SqlStatement:
            return renamed.get(id(stmt), stmt)

        def many(stmts: list[SqlStatement]) -> list[SqlStatement]:
            return [renamed.get(id(s), s) for s in stmts]

        clone.errors = [(one(s), m) for s, m in self.errors]
        clone._statement_of_table = {
            k: many(v) if any(id(s) in renamed for s in v) else v
            for k, v in self._statement_of_table.items()
        }
        clone._statement_of_index = {k: one(v) for k, v in self._statement_of_index.items()}
        clone.tables = {
            k: Table(t.name, t.columns, t.primary_key, t.without_rowid, many(t.statements))
            if any(id(s) in renamed for s in t.statements)
            else t
            for k, t in self.tables.items()
        }
        clone.indexes = {
            k: Index(i.name, i.table, i.columns, i.unique, i.origin, one(i.statement))
            if i.statement is not None and id(i.statement) in renamed
            else i
            for k, i in self.indexes.items()
        }
        return clone

    def with_index(self, create_index_sql: str) -> Schema:
        """A copy of this schema with one more index (to check a proposed index is used); one
        copy per index text (a fix asks for the same one several times). Shared: never change
        it."""
        trials: dict[str, Schema] | None = self.__dict__.get("_trials")
        if trials is None:
            trials = self.__dict__["_trials"] = {}
        found = trials.get(create_index_sql)
        if found is None:
            found = trials[create_index_sql] = self._with_index(create_index_sql)
        return found

    def _with_index(self, create_index_sql: str) -> Schema:
        shared = self._shared
        if shared is not None and self._bench is None and _TRIED_INDEX.match(create_index_sql):
            return self._on_bench(shared, create_index_sql)
        return self._copied(create_index_sql)

    def _on_bench(self, shared: _Built, sql: str) -> Schema:
        """with_index for one CREATE INDEX on this catalogue: the index is tried on the
        catalogue's bench (one copy of its database for all its trials, each index created there
        while it plans and dropped for the next), and what the trial reads of the catalogue (which
        tables' indexes changed, their rows) and its plans are shared by every schema of the
        same catalogue. A copy of the database per trial, each loading the whole catalogue
        again, was most of the cost of sql-missing-index's fixes (issue 14)."""
        facts = shared.trials.get(sql)
        bench = shared.bench
        if facts is None:
            if bench is None:
                bench = shared.bench = _Bench(self.db)
            with bench.lock:
                bench.install(sql)  # (an error is the caller's, as for a copy)
                changed = {table.lower() for _, table in _index_names_of(bench.db) - bench.names}
                rows = {
                    key: _index_rows(bench.db, table.name)
                    for key, table in self.tables.items()
                    if key in changed
                }
            facts = shared.trials[sql] = _TrialFacts(changed, rows)
            while len(shared.trials) > _TRIALS_MAX:
                shared.trials.pop(next(iter(shared.trials)))
        assert bench is not None
        clone = Schema.__new__(Schema)
        clone._bench, clone._trial = bench, sql
        clone.__dict__["_plans"] = facts.shared_plans()
        self._fill_trial(clone, sql, facts.changed, facts.rows)
        return clone

    def _copied(self, create_index_sql: str) -> Schema:
        """with_index on a copy of this schema's database (DDL other than one CREATE INDEX, such
        as schema-change-without-migration's ALTER TABLE, or a trial of a trial)."""
        clone = Schema.__new__(Schema)
        clone.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.backup(clone.db)
        clone.db.execute(create_index_sql)
        # an index changes no table: the catalogue read again only for the tables whose
        # indexes changed (each fix of sql-missing-index tries an index; reading every table's
        # columns and indexes again was most of that, issue 14)
        known = self.__dict__.get("_index_names_read")
        if known is None:
            known = self.__dict__["_index_names_read"] = self._index_names()
        changed = {table.lower() for _, table in clone._index_names() - known}
        rows = {
            key: _index_rows(clone.db, table.name)
            for key, table in self.tables.items()
            if key in changed
        }
        self._fill_trial(clone, create_index_sql, changed, rows)
        return clone

    def _fill_trial(
        self, clone: Schema, sql: str, changed: set[str], rows: dict[str, list[_IndexRow]]
    ) -> None:
        """A trial's catalogue: this one's tables, and its indexes but for the tables in
        `changed`, whose indexes are `rows`. An index changes no table: the trial shares this
        schema's Table objects and statement maps (no one changes them once built)."""
        clone.content_key = self._trial_key(sql)
        clone.__dict__["_tables_key"] = self.tables_key
        clone.errors = []
        clone._statement_of_table = self._statement_of_table
        clone._statement_of_index = self._statement_of_index
        clone.tables = dict(self.tables)
        clone.indexes = {}
        by_table = self._indexes_by_name()
        for key, table in self.tables.items():
            if key in changed:
                clone._add_indexes(table, rows[key])
            else:
                for index_key, index in by_table.get(table.name, ()):
                    clone.indexes[index_key] = index

    def _trial_key(self, sql: str) -> str:
        """The content_key of this catalogue with `sql` applied (once per text and catalogue)."""
        keys: dict[str, str] | None = self.__dict__.get("_trial_keys")
        if keys is None:
            keys = self.__dict__["_trial_keys"] = {}
        found = keys.get(sql)
        if found is None:
            found = keys[sql] = _digest([("BASE", self.content_key), ("CREATE", sql)])
        return found

    def _indexes_by_name(self) -> dict[str, list[tuple[str, Index]]]:
        """self.indexes grouped by their table's exact name, each group in catalogue order
        (once per schema: every trial copies the unchanged tables' indexes)."""
        found: dict[str, list[tuple[str, Index]]] | None = self.__dict__.get("_by_table_name")
        if found is None:
            found = {}
            for key, index in self.indexes.items():
                found.setdefault(index.table, []).append((key, index))
            self.__dict__["_by_table_name"] = found
        return found


_IndexRow = tuple[str, bool, str, list[str]]  # name, unique, origin, columns (PRAGMA index_*)
_TRIED_INDEX = re.compile(r"\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b", re.I)
_TRIALS_MAX = 256  # trial indexes kept per catalogue (the oldest out first)


def _index_names_of(db: sqlite3.Connection) -> set[tuple[str, str]]:
    rows = db.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index'")
    return {(str(name), str(table)) for name, table in rows.fetchall()}


def _index_rows(db: sqlite3.Connection, table: str) -> list[_IndexRow]:
    """The rows of the table's indexes in the catalogue, in the order SQLite lists them."""
    rows: list[_IndexRow] = []
    for idx in db.execute(f'PRAGMA index_list("{table}")').fetchall():
        idx_name, unique, origin = idx[1], bool(idx[2]), idx[3]
        cols = [r[2] for r in db.execute(f'PRAGMA index_info("{idx_name}")').fetchall()]
        rows.append((idx_name, unique, origin, cols))
    return rows


def _plan_on(db: sqlite3.Connection, sql: str) -> QueryPlan:
    """EXPLAIN QUERY PLAN of `sql` on `db`, every parameter bound to NULL."""
    text = normalize_for_parse(sql)
    bindings: list[None] = []
    for _ in range(2):
        try:
            rows = db.execute(f"EXPLAIN QUERY PLAN {text}", bindings).fetchall()
            return QueryPlan([PlanStep(row[3]) for row in rows])
        except sqlite3.ProgrammingError as exc:
            match = _BINDINGS_NEEDED.search(str(exc))
            if match is None:
                return QueryPlan([], str(exc))
            bindings = [None] * int(match.group(1))
        except sqlite3.Error as exc:
            return QueryPlan([], _uniform_error(str(exc)))
    return QueryPlan([], "could not bind parameters")


class _Bench:
    """A copy of a catalogue's database on which proposed indexes are tried one at a time
    (`Schema.with_index`): `install` drops the index of the previous trial and creates the
    next one. SQLite keeps the catalogue it has loaded across both (a fresh copy per trial
    loaded it all again), and a table's indexes are then in the order a fresh copy with the one
    index would have: the new index is the newest. Used under `lock` (the language server
    builds fixes and analyses on different threads)."""

    def __init__(self, source: sqlite3.Connection) -> None:
        # no cache of prepared statements: an EXPLAIN QUERY PLAN prepared while another trial's
        # index was in place would answer again with that index (the program of an EXPLAIN
        # never checks the catalogue's version, so SQLite does not prepare it afresh)
        self.db = sqlite3.connect(":memory:", check_same_thread=False, cached_statements=0)
        source.backup(self.db)
        self.lock = threading.Lock()
        self.names = _index_names_of(self.db)  # the catalogue's own indexes
        self.installed: str | None = None  # the CREATE INDEX text in place
        self.added: list[str] = []  # the indexes it created (dropped to undo it)
        self.creates: dict[str, list[str]] = {}  # the indexes each text created before

    def install(self, sql: str) -> None:
        """Put the index of `sql` in place of the one there (an error: none is left)."""
        if self.installed == sql:
            return
        for name in self.added:
            self.db.execute('DROP INDEX "{}"'.format(name.replace('"', '""')))
        self.installed, self.added = None, []
        self.db.execute(sql)
        added = self.creates.get(sql)
        if added is None:
            if len(self.creates) >= _TRIALS_MAX:
                self.creates.clear()
            added = self.creates[sql] = sorted(
                name for name, _ in _index_names_of(self.db) - self.names
            )
        self.installed, self.added = sql, added


@dataclass
class _TrialFacts:
    """What a trial index changes in a catalogue, shared by the schemas of that catalogue."""

    changed: set[str]  # the tables (lower case) whose indexes it changes
    rows: dict[str, list[_IndexRow]]  # their indexes then (by table key)
    plans: dict[str, QueryPlan] = field(default_factory=dict)

    def shared_plans(self) -> dict[str, QueryPlan]:
        if len(self.plans) >= _PLANS_SHARED_MAX:
            self.plans = {}
        return self.plans


@dataclass
class _Built:
    """A catalogue built from some DDL, with each statement named by its place in that DDL
    (not the statement objects: a kept entry must not keep old trees alive). Another model's
    schema with the same DDL texts in the same order (`content_key`) adopts it: SQLite runs no
    statement again, and the tables and indexes name the new model's statements. The
    connection is shared and only read (plans); `with_index` copies it."""

    db: sqlite3.Connection
    size: int
    pid: int  # a forked worker (process pool) builds its own: SQLite connections do not fork
    errors: list[tuple[int, str]]
    tables: dict[str, tuple[str, list[str], list[str], bool, list[int]]]
    indexes: dict[str, tuple[str, str, list[str], bool, str, int | None]]
    of_table: dict[str, list[int]]
    of_index: dict[str, int]
    # shared by the schemas of this catalogue: their plans (a function of the database and the
    # text), and the indexes fixes try on it (`Schema.with_index`)
    plans: dict[str, QueryPlan] = field(default_factory=dict)
    trials: dict[str, _TrialFacts] = field(default_factory=dict)
    bench: _Bench | None = None

    def shared_plans(self) -> dict[str, QueryPlan]:
        """The plans of this catalogue, for one more schema of it (afresh past the bound: a
        language server's models would grow them by every text typed in a query)."""
        if len(self.plans) >= _PLANS_SHARED_MAX:
            self.plans = {}
        return self.plans

    @classmethod
    def of(cls, schema: Schema, applied: list[SqlStatement]) -> _Built:
        place = {id(s): i for i, s in enumerate(applied)}
        return cls(
            db=schema.db,
            size=len(applied),
            pid=os.getpid(),
            errors=[(place[id(s)], m) for s, m in schema.errors],
            tables={
                k: (
                    t.name,
                    list(t.columns),
                    list(t.primary_key),
                    t.without_rowid,
                    [place[id(s)] for s in t.statements],
                )
                for k, t in schema.tables.items()
            },
            indexes={
                k: (
                    i.name,
                    i.table,
                    list(i.columns),
                    i.unique,
                    i.origin,
                    place[id(i.statement)] if i.statement is not None else None,
                )
                for k, i in schema.indexes.items()
            },
            of_table={k: [place[id(s)] for s in v] for k, v in schema._statement_of_table.items()},
            of_index={k: place[id(s)] for k, s in schema._statement_of_index.items()},
        )

    def adopt(self, schema: Schema, applied: list[SqlStatement]) -> None:
        schema.db = self.db
        schema.errors = [(applied[i], m) for i, m in self.errors]
        schema._statement_of_table = {k: [applied[i] for i in v] for k, v in self.of_table.items()}
        schema._statement_of_index = {k: applied[i] for k, i in self.of_index.items()}
        schema.tables = {}
        for key, (name, columns, pk, without_rowid, places) in self.tables.items():
            statements = schema._statement_of_table.get(key, [])
            if [id(s) for s in statements] != [id(applied[i]) for i in places]:
                statements = [applied[i] for i in places]
            schema.tables[key] = Table(name, list(columns), list(pk), without_rowid, statements)
        schema.indexes = {
            key: Index(
                name, table, list(cols), unique, origin, applied[at] if at is not None else None
            )
            for key, (name, table, cols, unique, origin, at) in self.indexes.items()
        }


# Built catalogues by content_key: the language server builds a Schema per scope per keystroke,
# and a monorepo scope's DDL is ~1,000 statements for SQLite to run again. A pure function of
# the DDL texts in order; the oldest out first.
_BUILT: dict[str, _Built] = {}
_PLANS_SHARED_MAX = 8192  # Schema.rebased shares its plans below this many
_BUILT_MAX = 32


def _digest(parts: Iterable[tuple[str, str]]) -> str:
    """A short key for a catalogue's DDL (compared per statement and rule: a digest compares
    in constant time, a tuple of every DDL text does not)."""
    digest = hashlib.sha256()
    for kind, text in parts:
        digest.update(f"{len(kind)}:{kind}{len(text)}:{text}".encode())
    return digest.hexdigest()


def _ddl_text(stmt: SqlStatement, text: str) -> str:
    # A CREATE with `?` from a `${}` substitution cannot run; SQLite tells us so and we move on.
    return text


_INSERT_NO_COLUMN = re.compile(r"table (\w+) has no column named (\w+)")


def _uniform_error(message: str) -> str:
    """INSERT/UPDATE name a missing column differently from SELECT; say it one way."""
    match = _INSERT_NO_COLUMN.fullmatch(message)
    return f"no such column: {match.group(1)}.{match.group(2)}" if match else message


def is_reserved_table(name: str) -> bool:
    return name.lower().startswith(_RESERVED_PREFIX)
