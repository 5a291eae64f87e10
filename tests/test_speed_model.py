"""The per-file model made cheaper (issue 14, docs/performance.md "Issue 14: the per-file model,
cheaper"): every short cut gives what the full reading gave. Word checks on a file's bytes,
literals and calls found from their words by a descent instead of a walk, wrapper summaries in
full only where a wrapper's name is spelled, imports read from the import clause, merged
walks kept per tree. Each is compared here with the reading it replaces, on the examples, the
rule fixtures, a generated monorepo and files written to trip the short cuts. No timing is
asserted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tree_sitter import Node

from durable_harden.analyzers import model as model_module
from durable_harden.analyzers import sql, sqlwrappers
from durable_harden.analyzers.analysis import workspace_for
from durable_harden.analyzers.classes import class_declarations
from durable_harden.analyzers.model import _STATE, build_model, resolve_module
from durable_harden.analyzers.source import SourceFile, parse_source, read_source, reparse
from durable_harden.analyzers.tsutil import import_items, literal_chars, walk_type
from tests.conftest import EXAMPLES, ROOT, generate_monorepo, write_tree
from tests.test_speed_incremental import _model_facts

FIXTURES = ROOT / "tests" / "fixtures"

WRANGLER = """{
  "name": "w", "main": "src/room.ts", "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "ROOM", "class_name": "Room" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room"] }]
}"""

# literals whose text starts with SQL only once literal_chars has read them: escapes, HTML
# character references (TSX), the non-ASCII letters Python's case-insensitive matching takes
# for ASCII ones, Unicode spaces; and literals that only look like it
TRICKY_TS = (
    'const a = "\\nCREATE TABLE a (x INTEGER)";\n'
    'const b = "\\x53ELECT * FROM t WHERE 1";\n'
    'const c = "S\\x45LECT a FROM t ";\n'
    "const d = '\u017fELECT a FROM t ';\n"
    'const e = "\u0130NSERT INTO t VALUES (1)";\n'
    'const f = "\u00a0SELECT a FROM t ";\n'
    "const g = `   select a from t`;\n"
    "const h = `${x} SELECT a FROM t`;\n"
    'const i = "updatedAt";\n'
    'const j = "\\u0053ELECT a FROM t";\n'
    'const k = "\u0131NSERT INTO t VALUES (2)";\n'
    'const l = "IN\u017fERT INTO t VALUES (3)";\n'
    "const m = 'drop table t';\n"
    "const n = `\n  UPDATE t SET a = ${v} WHERE id = ?`;\n"
    'const o = "\\\\nDROP TABLE t";\n'
    "const p = f(`select ${`SELECT inner FROM t`} from t`);\n"
    "const q = \"DELETE FROM t WHERE a = '\\u00e9'\";\n"
    "class Store { run() { this.sql.exec(`SELECT 1 FROM t`); const s = 'REPLACE INTO t VALUES (1)'; } }\n"
)
TRICKY_TSX = (
    'const a = <div title="SELE&amp;CT a FROM t " x="&nbsp;DELETE FROM t WHERE 1" />;\n'
    'const b = <p y="SEL&#69;CT a FROM t">{"SELECT b FROM t"}</p>;\n'
    "const c = 'INSERT INTO t VALUES (1)';\n"
)
# a syntax error: every literal is read, no word check
BROKEN_TS = 'const a = "SELECT a FROM t";\nfunction ( {\nconst b = `DROP TABLE t`;\n'


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[SourceFile]:
    """Every source file of the examples, the rule fixtures, a generated monorepo and the
    tricky files."""
    tmp = tmp_path_factory.mktemp("model")
    generate_monorepo(tmp / "gen", 60)
    write_tree(
        tmp / "tricky",
        {"a.ts": TRICKY_TS, "b.tsx": TRICKY_TSX, "broken.ts": BROKEN_TS},
    )
    paths: list[Path] = []
    for folder in (EXAMPLES, FIXTURES, tmp / "gen", tmp / "tricky"):
        paths += workspace_for([folder]).sources
    files = [read_source(p) for p in paths]
    assert len(files) > 200
    return files


def _may_be_sql(file: SourceFile, node: Node) -> bool:
    return bool(sql._LOOSE_SQL().match(literal_chars(file.data, node)[0]))


def _where(nodes: list[Node]) -> list[tuple[str, int, int]]:
    return [(n.type, n.start_byte, n.end_byte) for n in nodes]


@pytest.mark.parametrize("hits", ["few", "many"])
def test_loose_sql_candidates_hold_every_literal_that_reads_as_sql(
    sources: list[SourceFile], hits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The literals found from their opening bytes (or walked, in a file with many hits or a
    syntax error) are, among those that read as SQL, every one a walk of all literals finds;
    the same inside a class body (the splice reads one member)."""
    if hits == "many":
        monkeypatch.setattr(sql, "_MAX_HITS", 0)  # every file takes the walk
    found = 0
    for file in sources:
        every = [
            n
            for n in walk_type(file.root, "string", "template_string")
            if n.type in {"string", "template_string"} and _may_be_sql(file, n)
        ]
        candidates = sql._loose_candidates(file, None)
        assert _where([n for n in candidates if _may_be_sql(file, n)]) == _where(every), file.path
        found += len(every)
        for body in walk_type(file.root, "class_body"):
            inside = [n for n in every if body.start_byte <= n.start_byte < body.end_byte]
            scoped = [n for n in sql._loose_candidates(file, body) if _may_be_sql(file, n)]
            assert _where(scoped) == _where(inside), (file.path, body.start_byte)
    assert found > 50
    tricky = next(f for f in sources if f.path.name == "a.ts" and f.path.parent.name == "tricky")
    texts = [literal_chars(tricky.data, n)[0] for n in sql._loose_candidates(tricky, None)]
    assert "\u017fELECT a FROM t " in texts and "SELECT * FROM t WHERE 1" in texts
    jsx = next(f for f in sources if f.path.name == "b.tsx")
    assert "SELECT a FROM t " in [
        literal_chars(jsx.data, n)[0] for n in sql._loose_candidates(jsx, None)
    ]


@pytest.mark.parametrize("hits", ["few", "many"])
def test_namespace_accesses_found_from_their_words(
    sources: list[SourceFile], hits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calls found from the namespace methods' names give the accesses a walk of every
    call gives."""
    if hits == "many":
        monkeypatch.setattr(model_module, "_MAX_HITS", 0)
    bindings = frozenset({"ROOM", "ROOMS", "COUNTER", "DO", "MY_DO", "KV", "CHAT", "LOBBY"})

    def every_call(file: SourceFile, scope: Node | None) -> list[Node]:
        return list(walk_type(scope or file.root, "call_expression"))

    def accesses(file: SourceFile) -> list[Any]:
        return [
            (a.node.start_byte, a.node.end_byte, a.binding, a.method)
            for a in model_module._accesses_in(file, bindings)
        ]

    fast = {str(f.path): accesses(f) for f in sources}
    monkeypatch.setattr(model_module, "_access_candidates", every_call)
    walked = {str(f.path): accesses(f) for f in sources}
    assert fast == walked
    assert sum(map(len, walked.values())) > 20


def _resolved_in_full(model: Any) -> tuple[dict[str, Any], set[str]]:
    state = model.__dict__[_STATE]
    known = {f.path: f for f in model.files}
    full = {
        f: sqlwrappers.summarize(
            f, state.classes_by_file.get(f.path, []), model_module._state_params(f)
        )
        for f in model.files
    }
    wrapped = sqlwrappers.resolve(full, lambda f, spec: resolve_module(f.path, spec, known))
    return {str(f.path): calls for f, calls in wrapped.items()}, sqlwrappers.may_wrap(full.values())


WRAPPER_CHAIN = {
    "wrangler.jsonc": WRANGLER,
    # the wrapper: a parameter handed to exec()
    "src/db.ts": (
        "export function runSql(sql: SqlStorage, text: string, ...args: unknown[]) {\n"
        "  return sql.exec(text, ...args);\n}\n"
        "export function fixed(sql: SqlStorage) {\n"
        "  return sql.exec( `SELECT 1` ).one() && sql.exec\t(\n'SELECT 2') && exec(text);\n}\n"
        # type arguments before the text (session 7 looks past plain ones), and parameters
        # handed through type arguments it does not look past
        "export function typed(sql: SqlStorage, a: string, b: string, c: string) {\n"
        "  sql.exec<{ n: number; m: A[] }>('SELECT 3').one();\n"
        "  sql.exec<{ n: number }>(a);\n"
        "  sql.exec< Array<{ n: number | null }> >\n  (b);\n"
        "  sql.exec<{ kind: 'x' }>(c);\n"
        "  return sql.exec<(r: number) => void>(a);\n}\n"
    ),
    # a wrapper of the wrapper, in a file that never says exec
    "src/queries.ts": (
        'import { runSql as run } from "./db";\n'
        "export function one(sql: SqlStorage, q: string, ...args: unknown[]) {\n"
        "  return run(sql, q, ...args).one();\n}\n"
    ),
    # callers of both, through a base class in a file that names neither
    "src/base.ts": (
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Base extends DurableObject { ping() { return 1; } }\n"
    ),
    "src/mid.ts": 'import { Base } from "./base";\nexport class Mid extends Base {}\n',
    "src/room.ts": (
        'import { Mid } from "./mid";\nimport { one } from "./queries";\n'
        'import * as db from "./db";\n'
        "export class Room extends Mid {\n"
        "  get(id: string) { return one(this.ctx.storage.sql, 'SELECT * FROM t WHERE id = ?', id); }\n"
        "  put() { db.runSql(this.ctx.storage.sql, 'INSERT INTO t (id) VALUES (1)'); }\n"
        "}\n"
    ),
    # a file declaring a class it also imports (resolve looks at its functions)
    "src/odd.ts": 'import { Base } from "./base";\nclass Base { run() {} }\nexport class Odd {}\n',
    "src/plain.ts": "export const NAME = 'x';\nexport function f() { return NAME; }\n",
}


def test_wrapper_summaries_in_full_only_where_a_wrapper_is_named(
    sources: list[SourceFile], tmp_path: Path
) -> None:
    """The calls resolved through wrappers are those every file summarized in full gives, and
    the names kept hold every function that may be a wrapper; a file naming none has only its
    bases and imports."""
    root = write_tree(tmp_path / "chain", WRAPPER_CHAIN)
    projects = [root, EXAMPLES, *sorted(p for p in FIXTURES.iterdir() if p.is_dir())]
    gen = next(f for f in sources if "gen" in f.path.parts).path.parents
    projects.append(next(p for p in gen if p.name == "gen"))
    resolved = 0
    for folder in projects:
        ws = workspace_for([folder])
        model = build_model(ws.root, ws.sources, ws.configs)
        state = model.__dict__[_STATE]
        wrapped, names = _resolved_in_full(model)
        kept = {str(path): calls for path, calls in state.wrapped.items() if calls}
        assert kept == {path: calls for path, calls in wrapped.items() if calls}, folder
        assert names <= state.wrapper_names, folder
        resolved += sum(map(len, wrapped.values()))
        for file in model.files:
            summary = state.summaries[file.path]
            if summary.partial:
                assert not any(n.encode() in file.data for n in state.wrapper_names)
            classes = state.classes_by_file.get(file.path, [])
            aliases = model_module._state_params(file)
            every = sqlwrappers.summarize(file, classes, aliases).sinks
            assert sqlwrappers.exec_sinks(file, classes, aliases) == [
                sink for sink in every if sink.target == ("exec",)
            ], file.path
    assert resolved >= 2
    chain = build_model(root, workspace_for([root]).sources, workspace_for([root]).configs)
    summaries = chain.__dict__[_STATE].summaries
    assert summaries[root / "src" / "plain.ts"].partial
    assert summaries[root / "src" / "mid.ts"].partial  # a base class between, no wrapper named
    assert not summaries[root / "src" / "odd.ts"].partial
    runs = sorted(s.text for s in chain.statements if s.wrapper is not None)
    assert runs == ["INSERT INTO t (id) VALUES (1)", "SELECT * FROM t WHERE id = ?"]


def test_an_edit_that_makes_a_wrapper_rebuilds_the_callers(tmp_path: Path) -> None:
    """A file that named no wrapper has a partial summary: when an edit turns a function it
    calls into a wrapper, the model after the edit is a fresh build's (not a splice that would
    keep the partial summary)."""
    files = {
        "wrangler.jsonc": WRANGLER,
        "src/db.ts": "export function q(sql: SqlStorage, text: string) {\n  return text;\n}\n",
        "src/room.ts": (
            'import { DurableObject } from "cloudflare:workers";\nimport { q } from "./db";\n'
            "export class Room extends DurableObject {\n"
            "  run() { return q(this.ctx.storage.sql, 'SELECT a FROM t'); }\n}\n"
        ),
    }
    root = write_tree(tmp_path / "p", files)
    ws = workspace_for([root])
    parsed = {p: read_source(p) for p in ws.sources}
    before = build_model(ws.root, ws.sources, ws.configs, parsed=dict(parsed))
    assert not [s for s in before.statements if s.wrapper is not None]
    db = root / "src" / "db.ts"
    parsed[db] = reparse(
        parsed[db], parsed[db].data.replace(b"return text;", b"return sql.exec(text);")
    )
    after = build_model(ws.root, ws.sources, ws.configs, parsed=dict(parsed), previous=before)
    fresh = build_model(
        ws.root,
        ws.sources,
        ws.configs,
        parsed={p: parse_source(p, f.data) for p, f in parsed.items()},
    )
    assert _model_facts(after) == _model_facts(fresh)
    assert [s.text for s in after.statements if s.wrapper is not None] == ["SELECT a FROM t"]


def test_files_that_hold_nothing_are_not_indexed(tmp_path: Path) -> None:
    """A file without a class, SQL, an exec() call or a namespace access is never walked by the
    model: its node-by-type index is not built (the work the word checks save)."""
    root = write_tree(
        tmp_path / "p",
        {
            "wrangler.jsonc": WRANGLER,
            "src/room.ts": (
                'import { DurableObject } from "cloudflare:workers";\n'
                "export class Room extends DurableObject {\n"
                "  run() { return this.ctx.storage.sql.exec('SELECT 1 FROM t'); }\n}\n"
            ),
            "src/util.ts": (
                'import { x } from "./x";\nexport function clamp(n: number) {\n'
                '  const m = new Map<string, number>();\n  return m.get("k") ?? Math.min(n, x);\n}\n'
            ),
            "src/x.ts": "export const x = 'update the docs';\n",
        },
    )
    ws = workspace_for([root])
    model = build_model(ws.root, ws.sources, ws.configs)
    index = {f.path.name: f.memo["type_index"]._by_type for f in model.files}
    assert index["util.ts"] is None and index["x.ts"] is None
    assert index["room.ts"] is not None
    assert [s.text for s in model.statements] == ["SELECT 1 FROM t"]


def test_word_checks_never_skip_a_file_with_a_syntax_error(tmp_path: Path) -> None:
    broken = parse_source(tmp_path / "b.ts", BROKEN_TS.encode())
    assert broken.root.has_error
    assert not broken.lacks(b"class", b"no such word")
    texts = [s.text for s in sql.loose_statements(broken, set())]
    assert "SELECT a FROM t" in texts
    plain = parse_source(tmp_path / "p.ts", b"const a = 1;\n")
    assert plain.lacks(b"class", b"exec") and not plain.lacks(b"const")
    assert class_declarations(plain) == []


def test_class_declarations_found_by_word_are_the_walk_s(sources: list[SourceFile]) -> None:
    for file in sources:
        walked = list(
            walk_type(file.root, "class_declaration", "abstract_class_declaration", "class")
        )
        assert _where(class_declarations(file)) == _where(walked), file.path


def test_import_items_are_the_walk_s(sources: list[SourceFile], tmp_path: Path) -> None:
    extra = parse_source(
        tmp_path / "i.ts",
        b'import D, { a, b as c } from "./a";\nimport * as ns from "./b";\n'
        b'import type { T } from "./t";\nimport "./side";\nimport E, * as all from "./e";\n'
        b'import x = require("./r");\nimport { type U, v } from "./u";\n',
    )
    seen = 0
    for file in [*sources, extra]:
        for stmt in file.root.named_children:
            if stmt.type == "import_statement":
                walked = list(walk_type(stmt, "import_specifier", "namespace_import"))
                assert _where(import_items(stmt)) == _where(walked), file.path
                seen += 1
    assert seen > 100


@pytest.mark.parametrize(
    "text",
    [
        "SELECT a FROM t",
        "  \n ",
        "",
        "SELECT 'a' FROM t -- no end",
        "INSERT INTO t VALUES ('unterminated",
        "CREATE TRIGGER x AFTER INSERT ON t BEGIN UPDATE t SET a = 1 END",
    ],
)
def test_split_without_semicolon_is_the_tokenizer_s(text: str) -> None:
    """No `;` character, no semicolon token: one statement (or none when blank), as the
    tokenizer's loop gives, without tokenizing."""
    tokens = sql.sql_tokens(text)
    assert tokens is None or not [t for t in tokens if t.token_type == sql.TokenType.SEMICOLON]
    expected = [(0, len(text))] if text.strip() else []
    assert sql.split_statements(text) == expected


def test_merged_walks_are_fresh_merges(sources: list[SourceFile]) -> None:
    kinds = ("call_expression", "binary_expression", "string", "required_parameter")
    for file in sources[:80]:
        parts = [n for kind in kinds for n in walk_type(file.root, kind)]
        parts.sort(key=lambda n: (n.start_byte, -n.end_byte))
        assert _where(list(walk_type(file.root, *kinds))) == _where(parts)
        assert _where(list(walk_type(file.root, *kinds))) == _where(parts)  # the kept list
