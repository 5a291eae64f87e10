"""The cold check made cheaper again (issue 14, docs/performance.md "Issue 14: the cold check,
cheaper again"): each short cut is compared here with the work it replaces, on the examples,
the rule fixtures, a generated monorepo and sources written to trip it. No timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tree_sitter import Node

from durable_harden.analyzers import classes
from durable_harden.analyzers.analysis import workspace_for
from durable_harden.analyzers.settings_file import find_settings_file
from durable_harden.analyzers.source import SourceFile, read_source
from durable_harden.analyzers.tsutil import walk_type
from tests.conftest import EXAMPLES, MINIMAL_WRANGLER, ROOT, generate_monorepo, write_tree

FIXTURES = ROOT / "tests" / "fixtures"

# the word `class` everywhere a class keyword is not, and class nodes of every kind
CLASSES_TS = """// a class comment: class Foo {}
/* class Bar extends Baz {} */
const s = "class Qux {}";
const t = `class ${"x"} {}`;
const o = { class: 1, className: "a" };
const p = o.class + o.className;
const subclass = 1, classes = [subclass], $class = 2, class_ = 3;
function deco(): any { return (x: any) => x; }
@deco()
export class Decorated extends Base<Env> implements Other {
  inner = class {};
  make() { return class Named extends Decorated {}; }
}
export abstract class Shape { abstract area(): number; }
export default class {}
const Expr = class extends Shape { area() { return 1; } };
class Outer { method() { class Local {} return new Local(); } }
class Last {}
@deco()
class Plain {}
const decorated = @deco() class {};
const tagged = tag()`x${a()}`, curried = a()(b)(c), member = a().b;
"""
CLASSES_TSX = """export function View() {
  return <div className="class" class="x">{"class"} class text</div>;
}
export class Widget { render() { return <span className={"a"} />; } }
"""
# a syntax error: the index is walked (a MISSING or joined token may spell the keyword)
BROKEN_TS = "class A { run( { }\nclass B extends A {\n"
# more places than the limit: the index is walked
MANY_TS = "".join(f"class C{i} {{}}\n" for i in range(classes._CLASS_WORD_LIMIT + 5))


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[SourceFile]:
    tmp = tmp_path_factory.mktemp("coldagain")
    generate_monorepo(tmp / "gen", 60)
    write_tree(
        tmp / "tricky",
        {
            "a.ts": CLASSES_TS,
            "b.tsx": CLASSES_TSX,
            "broken.ts": BROKEN_TS,
            "many.ts": MANY_TS,
            "unicode.ts": "const \u00e9class = 1; class \u00c9t\u00e9 {}\n",
        },
    )
    paths: list[Path] = []
    for folder in (EXAMPLES, FIXTURES, tmp / "gen", tmp / "tricky"):
        paths += workspace_for([folder]).sources
    return [read_source(p) for p in paths]


def _shape(nodes: list[Node]) -> list[tuple[str, bool, int, int]]:
    return [(n.type, n.is_named, n.start_byte, n.end_byte) for n in nodes]


def test_class_declarations_from_the_keyword_are_the_walks(sources: list[SourceFile]) -> None:
    fast = 0
    for file in sources:
        walked = [] if file.lacks(b"class") else list(walk_type(file.root, *classes._CLASS_TYPES))
        assert _shape(classes.class_declarations(file)) == _shape(walked), file.path
        if not file.lacks(b"class") and classes._class_nodes_from_keywords(file) is not None:
            fast += 1
    assert fast > 30  # the short cut is taken (the examples, fixtures and generated classes)


def test_class_keywords_found_in_tricky_sources(sources: list[SourceFile]) -> None:
    by_name = {f.path.name: f for f in sources}
    tricky = by_name["a.ts"]
    found = classes._class_nodes_from_keywords(tricky)
    assert found is not None
    named = [n for n in found if n.is_named]
    # Decorated, inner, Named, Shape, default, Expr, Outer, Local, Last, Plain, decorated (not
    # the comments, strings, properties, `subclass`, `$class`)
    assert [n.type for n in named].count("abstract_class_declaration") == 1
    assert len(named) == 11, _shape(named)
    # a decorator opens the node, before its keyword
    assert named[-2].start_byte == tricky.data.index(b"@deco()\nclass Plain")
    assert named[-1].start_byte == tricky.data.index(b"@deco() class {}")
    assert classes._class_nodes_from_keywords(by_name["broken.ts"]) is None
    assert classes._class_nodes_from_keywords(by_name["many.ts"]) is None
    assert len(classes.class_declarations(by_name["many.ts"])) == 2 * (
        classes._CLASS_WORD_LIMIT + 5
    )


def test_settings_file_short_cut_follows_links_and_folders(tmp_path: Path) -> None:
    """A regular file in a folder already walked gets its folder's answer; a link, a folder
    or a path not written as resolved is resolved as before (a link into a folder with a
    settings file takes that file's settings)."""
    write_tree(
        tmp_path,
        {
            ".git/HEAD": "",
            "a/x.ts": "",
            "a/sub/y.ts": "",
            "b/durable-harden.jsonc": "{}",
            "b/real.ts": "",
        },
    )
    (tmp_path / "a" / "link.ts").symlink_to(tmp_path / "b" / "real.ts")
    (tmp_path / "a" / "linkdir").symlink_to(tmp_path / "b", target_is_directory=True)
    root = tmp_path.resolve()
    asked = [
        root / "a" / "x.ts",
        root / "a" / "link.ts",
        root / "a" / "sub",
        root / "a" / "sub" / "y.ts",
        root / "a" / "linkdir",
        root / "a" / "linkdir" / "real.ts",
        root / "a" / "sub" / ".." / "link.ts",
        root / "b" / "real.ts",
        root / "a" / "missing.ts",
    ]
    folders: dict[Path, Path | None] = {}
    for path in asked + asked:  # the second round answers from the memo
        assert find_settings_file(path, folders) == find_settings_file(path), path
    assert (
        find_settings_file(root / "a" / "link.ts", folders) == root / "b" / "durable-harden.jsonc"
    )


def _exit_state(tmp_path: Path, *flags: str) -> str:
    """Run the program on a small project; what the garbage collector was at `os._exit`."""
    write_tree(
        tmp_path,
        {
            "wrangler.jsonc": MINIMAL_WRANGLER,
            "src/index.ts": "export class Counter {}\n",
        },
    )
    script = (
        "import gc, os, sys\n"
        "real = os._exit\n"
        "def ending(code):\n"
        "    sys.stderr.write(f'collector {gc.isenabled()}\\n'); sys.stderr.flush(); real(code)\n"
        "os._exit = ending\n"
        "sys.argv = ['durable-harden', *sys.argv[1:]]\n"
        "from durable_harden.server.cli import run\n"
        "run()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "check", "--no-cache", "--exit-zero", *flags, str(tmp_path)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_the_program_ends_a_check_with_the_collector_off(tmp_path: Path) -> None:
    assert _exit_state(tmp_path / "check") == "collector False"
    # --fix analyses more than once: the collector is back on between and after
    assert _exit_state(tmp_path / "fix", "--fix") == "collector True"


WORD_SETS = (
    ("get", "put", "delete", "list"),
    ("setAlarm",),
    ("close",),
    ("exec",),
    ("e",),  # everywhere: the scope's calls are read
    ("this", "a"),
)


def test_calls_mentioning_is_a_filter_of_the_scopes_calls(sources: list[SourceFile]) -> None:
    """However calls_mentioning finds them (a descent from each place of the words, the
    scope's calls read once and shared between rules, or read afresh), it gives the calls of
    the scope whose callee's text holds a word, in pre-order."""
    from durable_harden.analyzers.rules._common import calls_mentioning

    shared = descended = 0
    for file in sources:
        scopes = [file.root, *list(walk_type(file.root, "class_declaration", "method_definition"))]
        for scope in scopes[:12]:
            for words in WORD_SETS:
                needles = [w.encode() for w in words]
                wanted = [
                    (call.start_byte, call.end_byte)
                    for call in walk_type(scope, "call_expression")
                    if (func := call.child_by_field_name("function")) is not None
                    and any(n in file.data[func.start_byte : func.end_byte] for n in needles)
                ]
                for kept in (file, None):
                    found = calls_mentioning(file.data, scope, *words, file=kept)
                    assert [(c.start_byte, c.end_byte) for c in found] == wanted, (
                        file.path,
                        scope.type,
                        words,
                    )
        memo = file.memo.get("callees_of_scope", {})
        shared += len(memo)
        descended += len(scopes) - len(memo)
    assert shared > 50 and descended > 50  # both ways were taken


def test_walk_type_inside_a_node_is_the_plain_walks(sources: list[SourceFile]) -> None:
    """walk_type below a node (a slice of the file's index, only its ends checked) gives the
    descendants a pre-order walk of that node gives, for nodes of every size, zero-width ones
    and a tree with a syntax error included."""
    from durable_harden.analyzers.tsutil import walk

    kinds = (
        "call_expression",
        "identifier",
        "statement_block",
        "member_expression",
        "string",
        "template_string",
        "arguments",  # `a()(b)`: the inner call ends where the outer's arguments start
    )
    checked = 0
    tricky = [f for f in sources if f.path.parent.name == "tricky"]
    for file in tricky + sources[::3]:
        by_type: dict[str, list[Node]] = {}
        for node in walk(file.root):
            by_type.setdefault(node.type, []).append(node)
        scopes = [
            n
            for n in walk(file.root)
            if n.is_named and n.type in {"class_body", "statement_block", "call_expression"}
        ]
        step = 1 if file in tricky else max(1, len(scopes) // 15)
        for scope in scopes[::step]:
            for kind in kinds:
                wanted = [
                    n
                    for n in by_type.get(kind, [])
                    if scope.start_byte <= n.start_byte
                    and n.end_byte <= scope.end_byte
                    and not (
                        n.start_byte == n.end_byte == scope.end_byte
                        and scope.end_byte > scope.start_byte
                    )
                ]
                assert _shape(list(walk_type(scope, kind))) == _shape(wanted), (file.path, kind)
                checked += 1
    assert checked > 500


CONSTANTS_TS = """export const A = "SELECT 1";
export const B = `CREATE TABLE b (x)`, C = 3, D = ("quoted" as const);
function f() { const A = "inner"; const E = "in function"; return A + E; }
const F = A;  // F is no string: A named in a value
let G = { A: "a property, not a declaration" };
class H { static I = "a field"; "J" = "a string-named field"; #K = "private"; A = "field A"; }
const Ab = "a longer name"; const bA = "another";
// const L = "in a comment"
const M = "M";
export const N = sql`SELECT 2`;
"""


def test_string_constant_by_name_is_the_files_constants(tmp_path: Path) -> None:
    """The constant of one name found from its places gives what reading every constant of
    the file gives, for every name declared anywhere, names only used, names not found,
    names that are no identifier (read whole), and a file with a syntax error."""
    import re

    from durable_harden.analyzers import sql

    files = {
        "constants.ts": CONSTANTS_TS,
        "broken.ts": 'export const A = "x";\nconst B = ( "y";\n',
        "many.ts": "".join(f'const Z{i} = "{i}";\nconst Z = "z{i}";\n' for i in range(40)),
    }
    write_tree(tmp_path, files)
    paths = [tmp_path / name for name in files]
    for folder in (EXAMPLES, FIXTURES):
        paths += workspace_for([folder]).sources
    fast = 0
    for path in paths:
        whole = sql._string_constants(read_source(path))
        file = read_source(path)  # a fresh memo: nothing read yet
        names = set(re.findall(r"[A-Za-z_$#][A-Za-z0-9_$]*", file.data.decode()))
        names |= set(whole) | {'"J"', "nowhere", "1x", ""}
        for name in sorted(names):
            found = sql.string_constant(file, name)
            wanted = whole.get(name)
            assert (found and _shape([found])) == (wanted and _shape([wanted])), (path, name)
            if _NAME_RE.fullmatch(name) and sql._constant_from_places(file, name) is not sql._WALK:
                fast += 1
    assert fast > 100
    # plain names of an error-free file: neither its constants nor its node index are read
    file = read_source(tmp_path / "constants.ts")
    assert _shape([sql.string_constant(file, "A")]) == _shape([sql._string_constants(file)["A"]])
    file = read_source(tmp_path / "constants.ts")
    for name in ("A", "B", "D", "E", "M", "Ab", "nowhere"):
        sql.string_constant(file, name)
    assert "string_constants" not in file.memo
    assert file.memo["type_index"]._by_type is None


_NAME_RE = __import__("re").compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def test_literal_chars_replaces_lone_surrogates_only_from_escapes(tmp_path: Path) -> None:
    """A literal without an escape holds no surrogate (the file is valid UTF-8): the
    replacement pass runs only after an escape, with the same text as always running it."""
    from durable_harden.analyzers.tsutil import literal_chars

    source = (
        'const a = "\\ud800 alone", b = "\\ud83d\\ude00 pair", c = `é ${x} \\udfff`;\n'
        "const d = 'plain é ü', e = `x${y}z`, f = \"\\u{1F600}\\n\";\n"
    )
    write_tree(tmp_path, {"s.ts": source})
    files = [read_source(tmp_path / "s.ts")]
    files += [read_source(p) for p in workspace_for([EXAMPLES]).sources]
    seen = 0
    for file in files:
        for literal in walk_type(file.root, "string", "template_string"):
            text, offsets = literal_chars(file.data, literal)
            assert not any("\ud800" <= c <= "\udfff" for c in text)
            assert len(offsets) == len(text) + 1
            seen += 1
    first = read_source(tmp_path / "s.ts")
    texts = [literal_chars(first.data, n)[0] for n in walk_type(first.root, "string")]
    assert texts[0] == "\ufffd alone" and texts[1] == "\U0001f600 pair"
    assert seen > 100


TAGGED_TS = """import { Agent } from "agents";
export class Notes extends Agent<Env> {
  list(id: string) {
    const a = this.sql<{ id: string }>`SELECT id FROM notes WHERE owner = ${id}`;
    this.ctx.storage.sql.exec("SELECT 1 FROM notes");
    const b = this.sql`SELECT body FROM notes WHERE id = ${id}`;
    const c = f(this.sql<Row>`SELECT 2 FROM notes`, this.ctx.storage.sql.exec("SELECT 3"));
    return x < y > `not sql` && a > b;
  }
}
"""


def test_statements_found_from_their_words_are_the_walks(
    sources: list[SourceFile], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """extract_statements finds its calls from the words `exec` and `sql` and the wrappers'
    call places (or walks the calls alone when no binary expression is a tagged template):
    the same statements, in the same order, as walking every call and binary expression."""
    from durable_harden.analyzers import sql

    write_tree(
        tmp_path,
        {
            "wrangler.jsonc": MINIMAL_WRANGLER,
            "src/notes.ts": TAGGED_TS,
            # `exec` and `sql` everywhere a statement is not, and a syntax error (walked)
            "src/words.ts": (
                "const exec = 1, sql = 2; // exec sql\n"
                "const o = { exec: () => 1, sql: 'SELECT 1' }; o.exec(); re.exec('x');\n"
                "this.ctx.storage.sql.exec(`SELECT ${exec} FROM t`);\n"
                "f(g(this.ctx.storage.sql.exec('DELETE FROM t')).exec('SELECT 2'));\n"
            ),
            # a tag's `sql` followed by `)`, `!`, a comment, non-ASCII white space, a line
            # break before its template (session 7 looks at what follows the word)
            "src/tag_shapes.ts": (
                "class A extends Agent<Env> { m() {\n"
                "  const a = (this.sql)`SELECT 1 FROM t`;\n"
                "  const b = this.sql /* c */ `SELECT 2 FROM t`;\n"
                "  const c = this.sql\u00a0`SELECT 3 FROM t`;\n"
                "  const d = this.sql\n    `SELECT 4 FROM t`;\n"
                "  const e = this.sql!`SELECT 5 FROM t`;\n"
                "  const f = this.sql <Row> `SELECT 6 FROM t`;\n"
                "  const g = this.sql.length + sql(`SELECT 7`);\n"
                "} }\n"
            ),
            "src/broken_exec.ts": "this.ctx.storage.sql.exec('SELECT 1'); f(\n",
            "src/many_exec.ts": "".join(
                f"this.ctx.storage.sql.exec('SELECT {i}');\n"
                for i in range(sql._CANDIDATES_LIMIT + 2)
            ),
        },
    )
    files = [read_source(p) for p in sorted((tmp_path / "src").iterdir())] + sources
    aliases = classes.Aliases(sql={"this.ctx.storage.sql", "o"})

    def statements(file: SourceFile, wrapped: dict[int, object]) -> list[tuple[str, int, str]]:
        found = sql.extract_statements(file, [], aliases, {}, wrapped)  # type: ignore[arg-type]
        return [(s.text, s.call.start_byte, s.call.type) for s in found]

    def wrappers(file: SourceFile) -> dict[int, object]:
        # every call whose callee is a plain name, as if a wrapper taking the SQL first
        return {
            c.start_byte: sql.SqlParam(0)
            for c in walk_type(file.root, "call_expression")
            if (f := c.child_by_field_name("function")) is not None and f.type == "identifier"
        }

    fast = [statements(file, {}) for file in files]
    fast_wrapped = [statements(file, wrappers(file)) for file in files]
    taken = [sql._statement_candidates(f, {}, True) is not None for f in files]
    both = ("call_expression", "binary_expression")
    monkeypatch.setattr(sql, "_statement_candidates", lambda file, wrapped, may_tag: None)
    monkeypatch.setattr(sql, "_statement_kinds", lambda data, root, may_tag: both)
    assert [statements(file, {}) for file in files] == fast
    assert [statements(file, wrappers(file)) for file in files] == fast_wrapped
    by_name = {f.path.name: n for n, f in enumerate(files[:5])}
    tagged = fast[by_name["notes.ts"]]
    assert "binary_expression" in [t for _, _, t in tagged]  # a `<Row>` shape
    assert len(tagged) == 5
    assert len(fast[by_name["words.ts"]]) == 2
    shapes = [text for text, _, _ in fast[by_name["tag_shapes.ts"]]]
    assert len(shapes) == 6 and "SELECT 7" not in shapes, shapes
    assert taken[by_name["tag_shapes.ts"]]
    assert fast_wrapped != fast  # the wrappers' calls were found too
    assert not taken[by_name["broken_exec.ts"]] and not taken[by_name["many_exec.ts"]]
    assert sum(taken) > 30


STATE_PARAMS_TS = """import { DurableObject, RpcTarget } from "cloudflare:workers";
function a(state: DurableObjectState, s?: DurableObjectStorage, q: SqlStorage) {}
function b(x: DurableObjectState<Env>, y: Wrapped<DurableObjectState>, { z }: DurableObjectState) {}
const c = (ctx: DurableObjectState = f((inner: SqlStorage) => 1)) => ctx;
class D { constructor(readonly st: DurableObjectState, private sql?: SqlStorage) {} }
// a comment: (state: DurableObjectState)
const e = "(state: DurableObjectState)";
export class Session extends RpcTarget {}
export class NotTarget extends Other {}
export abstract class AbstractTarget extends RpcTarget {}
"""


def test_state_params_and_rpc_targets_from_words_are_the_walks(
    sources: list[SourceFile], tmp_path: Path
) -> None:
    """The typed state parameters found from the type names' places, and the RpcTarget classes
    from the class keyword, are what walking every parameter and class gives."""
    from durable_harden.analyzers.rules._common import _EXTENDS_RPC_TARGET, rpc_target_classes
    from durable_harden.analyzers.tsutil import node_text

    write_tree(tmp_path, {"params.ts": STATE_PARAMS_TS, "broken.ts": "f(s: SqlStorage, {\n"})
    files = [read_source(tmp_path / "params.ts"), read_source(tmp_path / "broken.ts"), *sources]

    def walked_params(file: SourceFile, scope: Node) -> list[tuple[str, str]]:
        found = []
        for param in walk_type(scope, "required_parameter", "optional_parameter"):
            type_ann, pattern = (
                param.child_by_field_name("type"),
                param.child_by_field_name("pattern"),
            )
            if type_ann is None or pattern is None or pattern.type != "identifier":
                continue
            kind = classes.STATE_TYPES.get(node_text(file.data, type_ann).lstrip(":").strip())
            if kind is not None:
                found.append((kind, node_text(file.data, pattern)))
        return found

    def walked_targets(file: SourceFile) -> list[str]:
        if b"RpcTarget" not in file.data:
            return []
        names = []
        for decl in walk_type(file.root, "class_declaration"):
            heritage = next((c for c in decl.children if c.type == "class_heritage"), None)
            name = decl.child_by_field_name("name")
            if heritage is not None and name is not None:
                if _EXTENDS_RPC_TARGET.search(node_text(file.data, heritage)):
                    names.append(node_text(file.data, name))
        return names

    for file in files:
        scopes = [file.root, *list(walk_type(file.root, "class_body", "statement_block"))[:5]]
        for scope in scopes:
            assert classes.state_param_names(file, scope) == walked_params(file, scope)
        assert list(rpc_target_classes(file)) == walked_targets(file)
    params = classes.state_param_names(files[0], files[0].root)
    assert params == [
        ("ctx", "state"),
        ("storage", "s"),
        ("sql", "q"),
        ("ctx", "ctx"),
        ("sql", "inner"),
        ("ctx", "st"),
        ("sql", "sql"),
    ]
    assert classes._typed_params_from_words(files[0], files[0].root) is not None
    assert classes._typed_params_from_words(files[1], files[1].root) is None
    assert list(rpc_target_classes(files[0])) == ["Session"]
