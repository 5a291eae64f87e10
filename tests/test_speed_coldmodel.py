"""The cold model made cheaper (issue 14, docs/performance.md "Issue 14: the cold model (session
7)"): each short cut is compared here with the work it replaces, on the examples, the rule
fixtures, a generated monorepo and sources written to trip it. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.analyzers import exports, tsutil
from durable_harden.analyzers.analysis import workspace_for
from durable_harden.analyzers.classes import class_declarations
from durable_harden.analyzers.model import build_model, resolve_module
from durable_harden.analyzers.source import SourceFile, parse_source, read_source
from tests.conftest import EXAMPLES, MINIMAL_WRANGLER, ROOT, generate_monorepo, write_tree

FIXTURES = ROOT / "tests" / "fixtures"

# `as` where no export renames, and renames of every shape
EXPORTS_TS = {
    "none.ts": (
        "class Base {}\nconst alias = 1, hasAs = 2, as_ = 3, $as = 4;\n"
        "export { alias, hasAs };\nexport const q = `SELECT x AS y`;\n"
    ),
    "words.ts": "// export { a as b }\nconst s = 'export { a as b }';\nexport { s };\n",
    "cast.ts": "const x = 1;\nexport const y = x as number;\nexport { x };\n",
    "rename.ts": "const a = 1;\nexport {\n  a\n  as\n  b };\n",
    "string.ts": 'const c = 1;\nexport { c as "d-e" };\n',
    "from.ts": 'export { Room as DurableRoom } from "./room";\nexport * from "./x";\n',
    "default.ts": "const f = 1;\nexport { f as default };\n",
    "broken.ts": "const g = 1;\nexport { g ax h };\n",
    "comment_only.ts": "const k = 1;\n/* as */ export { k };\n",
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[SourceFile]:
    tmp = tmp_path_factory.mktemp("coldmodel")
    generate_monorepo(tmp / "gen", 60)
    write_tree(tmp / "exports", EXPORTS_TS)
    folders = [tmp / "gen", tmp / "exports", EXAMPLES]
    folders += sorted(p for p in FIXTURES.iterdir() if p.is_dir())
    files: list[SourceFile] = []
    for folder in folders:
        files += [read_source(p) for p in workspace_for([folder]).sources]
    return files


def _aliases_from_entries(file: SourceFile) -> dict[str, str]:
    return {
        e.exported: e.local
        for e in exports._export_entries(file)
        if e.local is not None and e.exported not in {e.local, "*", "default"}
    }


def test_export_aliases_without_the_word_are_the_entries(sources: list[SourceFile]) -> None:
    """A file that never spells the keyword `as` whole renames no export: export_aliases
    answers without reading its export statements, the same as from them."""
    skipped = renamed = 0
    for source in sources:
        fresh = parse_source(source.path, source.data)  # an empty memo
        found = exports.export_aliases(fresh)
        assert found == _aliases_from_entries(fresh), source.path
        skipped += "export_entries" not in fresh.memo
        renamed += bool(found)
    by_name = {s.path.name: s for s in sources if s.path.parent.name == "exports"}
    assert exports.export_aliases(by_name["rename.ts"]) == {"b": "a"}
    assert exports.export_aliases(by_name["string.ts"]) == {"d-e": "c"}
    assert exports.export_aliases(by_name["from.ts"]) == {"DurableRoom": "Room"}
    assert not exports._may_rename(parse_source(Path("n.ts"), by_name["none.ts"].data))
    assert exports._may_rename(by_name["cast.ts"])  # a cast spells it: read as before
    assert exports._may_rename(by_name["words.ts"]) and not exports.export_aliases(
        by_name["words.ts"]
    )
    assert exports._may_rename(by_name["broken.ts"])  # a syntax error: read as before
    assert skipped > 50 and renamed >= 3


def test_class_declarations_are_kept_per_file(sources: list[SourceFile]) -> None:
    """A file's class nodes are found once and handed out as copies (a caller changing its
    list changes no other caller's)."""
    for source in sources[:40]:
        fresh = parse_source(source.path, source.data)
        first = class_declarations(fresh)
        first.clear()
        again = class_declarations(fresh)
        walked = list(
            tsutil.walk_type(fresh.root, "class_declaration", "class", "abstract_class_declaration")
        )
        assert [(n.start_byte, n.end_byte, n.type) for n in again] == [
            (n.start_byte, n.end_byte, n.type) for n in walked
        ], source.path


def test_resolved_modules_follow_the_known_files(tmp_path: Path) -> None:
    """resolve_module's answers are kept with the known files' index: the same answers as a
    fresh look-up, and new ones for another set of known files (a new dict or one grown)."""
    root = write_tree(
        tmp_path,
        {
            "wrangler.jsonc": MINIMAL_WRANGLER,
            "src/index.ts": 'import { a } from "./a";\nimport { b } from "./lib";\nexport {};\n',
            "src/a.ts": "export const a = 'x';\n",
            "src/lib/index.ts": "export const b = 'y';\n",
        },
    )
    ws = workspace_for([root])
    model = build_model(ws.root, ws.sources, ws.configs)
    known = {f.path: f for f in model.files}
    index = root / "src" / "index.ts"
    first = resolve_module(index, "./a", known)
    assert first is known[root / "src" / "a.ts"]
    assert resolve_module(index, "./a", known) is first  # kept
    assert resolve_module(index, "./lib", known) is known[root / "src" / "lib" / "index.ts"]
    assert resolve_module(index, "./missing", known) is None
    # the same paths, other file objects: the answers are the new dict's
    other = {path: parse_source(path, file.data) for path, file in known.items()}
    assert resolve_module(index, "./a", other) is other[root / "src" / "a.ts"]
    # a file added under the name asked before: found once it is known
    smaller = {p: f for p, f in known.items() if p.name != "a.ts"}
    assert resolve_module(index, "./a", smaller) is None
    smaller[root / "src" / "a.ts"] = known[root / "src" / "a.ts"]
    assert resolve_module(index, "./a", smaller) is known[root / "src" / "a.ts"]


def test_a_root_found_by_a_short_climb_or_a_long_one() -> None:
    """walk_type below a node finds the node's tree by a short climb, and below a node deeper
    than the climb through the recent trees or the whole climb: the same nodes either way."""
    shallow = "class A { m() { return f(1) + g(2); } }\n"
    deep = "function z() {\n" + "{ " * 40 + "h(3);" + " }" * 40 + "\n}\n"
    for text in (shallow, deep):
        file = parse_source(Path("t.ts"), text.encode())
        calls = list(tsutil.walk_type(file.root, "call_expression"))
        inner = calls[-1]
        parent = inner.parent
        assert parent is not None
        tsutil._root_hints.clear()
        tsutil._recent_roots.clear()
        below = list(tsutil.walk_type(parent, "call_expression"))
        inside = [
            (n.start_byte, n.end_byte)
            for n in calls
            if parent.start_byte <= n.start_byte and n.end_byte <= parent.end_byte
        ]
        assert [(n.start_byte, n.end_byte) for n in below] == inside and inside
        assert tsutil._root_of(parent) == file.root


def test_plain_json_configs_read_without_the_token_walk() -> None:
    """A config that is plain JSON is read by the standard library alone: the same values as
    json5 gives; one with comments or trailing commas still takes the cleaning path."""
    import json5

    from durable_harden.analyzers import wrangler

    plain = '{"name": "w", "main": "src/index.ts", "durable_objects": {"bindings": []}}'
    commented = '{\n  // a comment\n  "name": "w", /* more */ "main": "src/index.ts",\n}\n'
    texts = [plain, commented, '{"a": "// not a comment", "b": [1, 2,]}']
    folders = [EXAMPLES, *sorted(p for p in FIXTURES.iterdir() if p.is_dir())]
    configs = [
        p for f in folders for p in f.rglob("wrangler.json*") if "node_modules" not in p.parts
    ]
    texts += [p.read_bytes().decode("utf-8-sig") for p in configs]
    for text in texts:
        assert wrangler._jsonc_values(text.encode(), text) == json5.loads(text), text[:80]
    assert len(configs) > 10


def test_a_json_config_imports_no_toml_reader(tmp_path: Path) -> None:
    """tomllib and the TOML grammar are imported when a TOML config is read, not at start-up
    (~1.5 ms of every check of a project whose configs are JSON)."""
    import json
    import subprocess
    import sys

    root = write_tree(
        tmp_path,
        {
            "wrangler.jsonc": MINIMAL_WRANGLER,
            "src/index.ts": "export default { fetch() { return new Response('ok'); } };\n",
        },
    )
    probe = (
        "import sys, json\n"
        "from durable_harden.server.cli import main\n"
        "main(['check', '--no-cache', sys.argv[1]])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m in {'tomllib', 'tree_sitter_toml'})),"
        " file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(root)],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(root)},
        check=False,
    )
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [], done.stderr
    toml = write_tree(
        tmp_path / "t",
        {
            "wrangler.toml": 'name = "t"\nmain = "src/index.ts"\n',
            "src/index.ts": "export default {};\n",
        },
    )
    from durable_harden.analyzers import wrangler

    config = wrangler.load_config(toml / "wrangler.toml")
    assert config.values["name"] == "t" and config.format == "toml"
