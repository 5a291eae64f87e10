"""The benchmark scripts under bench/ start and make what the others use (no timing asserted)."""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def test_peers_help_names_its_options() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "peers.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for option in ("--files", "--corpus", "--repeat", "--tools"):
        assert option in done.stdout


def test_generate_writes_worker_projects_with_the_asked_file_count(tmp_path: Path) -> None:
    out = tmp_path / "mono"
    done = subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), str(out), "--files", "24"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().endswith(f"out={out}")
    projects = sorted((out / "packages").iterdir())
    assert len(projects) == 2
    sources = [p for project in projects for p in (project / "src").glob("*.ts")]
    assert len(sources) == 24
    assert "files=24 projects=2" in done.stdout
    for project in projects:
        config = json.loads((project / "wrangler.jsonc").read_text())
        classes = [b["class_name"] for b in config["durable_objects"]["bindings"]]
        assert classes, project
        index = (project / "src" / "index.ts").read_text()
        for name in classes:
            assert f"export {{ {name} }}" in index


def test_cold_cpu_runs_a_tiny_check_side_by_side(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "cold_cpu.py"),
            "--sizes",
            "12",
            "--repeat",
            "1",
            "--before",
            str(ROOT),  # the same tree twice: both columns are printed
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("cold_cpu ")
    names = {item.split("=")[0] for item in last.split()[1:]}
    assert names == {"before_12_j1", "after_12_j1"}
    assert all(float(item.split("=")[1]) > 0 for item in last.split()[1:])


def test_cold_cpu_measures_real_folders_against_the_files_check_analyses(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), str(corpus), "--files", "12"],
        check=True,
        capture_output=True,
    )
    folders = sorted(p.parent for p in corpus.rglob("wrangler.jsonc"))
    sources = [p for f in folders for p in f.rglob("*.ts")]
    assert len(folders) >= 2 and sources
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "cold_cpu.py"),
            "--sizes",
            "",
            "--corpus",
            str(corpus),
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    lines = done.stdout.strip().splitlines()
    # the floor parses what check analyses in those folders: every source file under them
    assert f"corpus ({len(folders)} folders), {len(sources)} files: parse floor" in done.stdout
    names = {item.split("=")[0] for item in lines[-1].split()[1:]}
    assert names == {"after_corpus_j1"}


def test_keystroke_inprocess_times_edits_of_the_tree_it_imports(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "keystroke_inprocess.py"), "--edits", "2"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("durable_harden from ")
    fields = dict(item.split("=") for item in lines[-1].split()[1:])
    assert lines[-1].startswith("keystroke_inprocess ") and fields["edits"] == "2"
    assert 0 < float(fields["min_ms"]) <= float(fields["median_ms"]) <= float(fields["p90_ms"])


def _stale_modules(tree: Path) -> list[str]:
    """The modules of `tree` Python compiles from source on import (no valid .pyc): `-v`
    prints "code object from" the source's path for them, from the .pyc's for the others."""
    done = subprocess.run(
        [sys.executable, "-v", "-c", "import pkg.analyzers.mod"],
        env={"PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return [
        Path(line.removeprefix("# code object from ").strip("'")).relative_to(tree).as_posix()
        for line in done.stderr.splitlines()
        if line.startswith("# code object from ") and line.rstrip("'").endswith(".py")
    ]


def test_compile_tree_refreshes_stale_byte_code_behind_symlinks(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from _bytecode import compile_tree
    finally:
        sys.path.remove(str(BENCH))
    tree = tmp_path / "tree"
    (tree / "analyzers").mkdir(parents=True)
    (tree / "pkg").mkdir()
    (tree / "pkg" / "__init__.py").write_text("")
    compileall.compile_file(tree / "pkg" / "__init__.py", quiet=1)  # not one of the tree's
    (tree / "pkg" / "analyzers").symlink_to("../analyzers")  # as durable_harden/ does
    (tree / "analyzers" / "__init__.py").write_text("")
    module = tree / "analyzers" / "mod.py"
    module.write_text("VALUE = 1\n")
    compile_tree(tree)
    assert _stale_modules(tree) == []
    # an edit in the same second: compileall without force compares only the time
    stamp = module.stat().st_mtime_ns
    module.write_text("VALUE = 22\n")
    os.utime(module, ns=(stamp, stamp))
    assert _stale_modules(tree) == ["pkg/analyzers/mod.py"]
    compile_tree(tree)
    assert _stale_modules(tree) == []


def test_typing_edits_type_each_scenario_as_an_editor_does() -> None:
    """Each keystroke inserts one character (or an opener with its closer) at the cursor; a
    closer the editor inserted is stepped over (no edit); the last version holds the text."""
    sys.path.insert(0, str(BENCH))
    try:
        from keystroke import big_do_file
        from typing_edits import SCENARIOS, keystrokes, versions
    finally:
        sys.path.remove(str(BENCH))
    import random

    assert keystrokes('f("a")') == [(0, "f"), (1, "()"), (2, '""'), (3, "a")]
    data = big_do_file(600, random.Random(1)).encode()
    for scenario in SCENARIOS:
        steps = versions(data, scenario)
        at = scenario.where(data)
        assert steps[-1][2] == data[:at] + scenario.typed.encode() + data[at:], scenario.name
        previous = data
        for place, inserted, after in steps:
            assert after == previous[:place] + inserted + previous[place:]
            previous = after


def test_keystroke_benchmarks_time_real_typing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "keystroke_inprocess.py"), "--typing"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    lines = done.stdout.strip().splitlines()
    names = [
        line.split(":")[0][len("typing ") :].strip() for line in lines if line[:7] == "typing "
    ]
    assert names == [
        "new method",
        "typed params",
        "new statement",
        "SQL in a call",
        "new field",
        "new import",
        "schema column",
    ]
    fields = dict(item.split("=") for item in lines[-1].split()[1:])
    assert fields["typing"] == "1" and int(fields["edits"]) > 150
    done = subprocess.run(
        [sys.executable, str(BENCH / "keystroke.py"), "--typing", "--lines", "800"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    last = done.stdout.strip().splitlines()[-1]
    fields = dict(item.split("=") for item in last.split()[1:])
    assert last.startswith("keystroke ") and fields["typing"] == "1"
    assert 0 < float(fields["p50_ms"]) <= float(fields["p99_ms"])


def test_typing_identity_types_into_the_sql_constants_of_a_corpus(tmp_path: Path) -> None:
    """scripts/typing_identity.py --constants on a corpus of one repository: it finds the
    top-level SQL constants (a schema, a query; not a constant without SQL nor one with a
    `${…}`), types into each and compares every keystroke (the splice takes them)."""
    repo = tmp_path / "corpus" / "someone__worker"
    (repo / "src").mkdir(parents=True)
    (repo / "wrangler.jsonc").write_text(
        '{ "name": "w", "main": "src/index.ts", "durable_objects": { "bindings": '
        '[{ "name": "STORE", "class_name": "Store" }] } }'
    )
    (repo / "src" / "index.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n\n'
        "const SCHEMA = `CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, body TEXT)`;\n"
        'export const LIST = "SELECT id, body FROM items";\n'
        'const GREETING = "hello";\n'
        "const DYNAMIC = `SELECT ${GREETING}`;\n\n"
        "export class Store extends DurableObject {\n"
        "  constructor(ctx: DurableObjectState, env: unknown) {\n"
        "    super(ctx, env as never);\n"
        "    ctx.storage.sql.exec(SCHEMA);\n"
        "  }\n\n"
        "  list(): unknown[] {\n"
        "    return this.ctx.storage.sql.exec(LIST).toArray();\n"
        "  }\n"
        "}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "typing_identity.py"),
            "--constants",
            "--corpus",
            str(tmp_path / "corpus"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    last = done.stdout.strip().splitlines()[-1]
    # `, tag TEXT` (10 keystrokes) into the schema, ` /* typed */` (12) into the query
    assert last == "typing_identity constants=2 keystrokes=22 spliced=22 mismatches=0"
