"""Start-up (issue 14 item 5): checking one file without SQL imports neither sqlglot nor pathspec
(~200 ms between them), nor dulwich (git objects, read only for a committed file), nor
multiprocessing, mmap and signal (workers, only for a big project), nor json5 (only for a config
the standard library cannot read after comments and trailing commas are blanked); a file with SQL
still gets its SQL findings (sqlglot loaded on demand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROBE = (
    "import sys, json\n"
    "from durable_harden.server.cli import main\n"
    "code = main(['check', '--no-cache', '--output-format', 'json', sys.argv[1]])\n"
    "print(json.dumps({'code': code, 'heavy': sorted(m for m in sys.modules\n"
    "    if m.split('.')[0] in {'sqlglot', 'pathspec', 'dulwich', 'multiprocessing', 'json5', 'mmap', 'signal'}\n"
    "    and '.' not in m)}), file=sys.stderr)\n"
)


# a DO file without SQL (a timer, KV only): what a check of it needs is not the SQL machinery
COUNTER = (
    'import { DurableObject } from "cloudflare:workers";\n'
    "export class Counter extends DurableObject {\n"
    "  async fetch(): Promise<Response> {\n"
    '    setInterval(() => this.ctx.storage.put("n", 1), 1000);\n'
    '    return new Response("ok");\n'
    "  }\n}\n"
)


# a DO file whose SQL interpolates a value: a check of it needs sqlglot and the SQL rules
SQL_WORKER = (
    'import { DurableObject } from "cloudflare:workers";\n'
    "export class Store extends DurableObject {\n"
    "  rows(kind: string) {\n"
    "    return this.ctx.storage.sql.exec(`SELECT * FROM items WHERE kind = '${kind}'`);\n"
    "  }\n}\n"
)


def _run_probe(code: str, *args: str, cwd: Path, first: Path | None = None) -> tuple[dict, str]:
    """Run `code` in a fresh interpreter that imports this checkout (after `first`, when
    given), from `cwd` with HOME there: (the JSON of its last stderr line, its stdout)."""
    path = str(ROOT) if first is None else f"{first}{os.pathsep}{ROOT}"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        check=False,
    )
    return json.loads(done.stderr.strip().splitlines()[-1]), done.stdout


def _probe(path: Path) -> tuple[dict, str]:
    return _run_probe(PROBE, str(path), cwd=path.parent)


def test_one_file_without_sql_imports_no_heavy_module(tmp_path: Path) -> None:
    worker = tmp_path / "worker.ts"
    worker.write_text(COUNTER)
    result, out = _probe(worker)
    assert result["heavy"] == []
    assert result["code"] == 1 and json.loads(out)  # the rules did run and report


def test_sql_still_loads_sqlglot_on_demand(tmp_path: Path) -> None:
    worker = tmp_path / "worker.ts"
    worker.write_text(SQL_WORKER)
    result, out = _probe(worker)
    assert result["heavy"] == ["sqlglot"]
    assert "sql-interpolation" in {f["code"] for f in json.loads(out)}


def test_json5_only_for_a_config_json_cannot_read(tmp_path: Path) -> None:
    """A JSONC config with comments and trailing commas is read without json5; one that only
    JSON5 reads (unquoted keys) still is, with json5 imported for it."""
    worker = tmp_path / "src" / "worker.ts"
    worker.parent.mkdir()
    worker.write_text(
        COUNTER.replace("export class Counter", "export default {};\nexport class Counter")
    )
    config = tmp_path / "wrangler.jsonc"
    body = (
        '  "name": "w", // the Worker\n  "main": "src/worker.ts",\n'
        '  "durable_objects": {"bindings": [{"name": "C", "class_name": "Missing",},],},\n'
    )
    config.write_text("{\n" + body + "}\n")
    result, out = _probe(tmp_path)
    assert "json5" not in result["heavy"]
    assert "binding-class-not-found" in {f["code"] for f in json.loads(out)}
    config.write_text("{\n" + body + "  compatibility_date: '2025-01-01',\n}\n")
    result, out = _probe(tmp_path)
    assert "json5" in result["heavy"]
    assert "binding-class-not-found" in {f["code"] for f in json.loads(out)}


HIT_PROBE = (
    "import sys, json\n"
    "from durable_harden.server.cli import main\n"
    "code = main(['check', sys.argv[1]])\n"
    "print(json.dumps({'code': code, 'loaded': sorted(m for m in sys.modules\n"
    "    if m.startswith(('durable_harden.', 'tree_sitter', 'sqlglot', 'json5')))}),\n"
    "    file=sys.stderr)\n"
)


def test_a_cache_hit_imports_nothing_of_the_analysis(tmp_path: Path) -> None:
    """A warm `check` (server/check_cache.replay) answers before the analyzers, tree-sitter or
    the reports are imported: what is left is the interpreter's start-up and hashing."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "wrangler.toml").write_text('name = "w"\nmain = "src/worker.ts"\n')
    (project / "src" / "worker.ts").write_text(COUNTER)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", HIT_PROBE, str(project)],
            capture_output=True,
            text=True,
            cwd=project,
            env=env,
            check=False,
        )
        for _ in range(2)
    ]
    cold, warm = (json.loads(r.stderr.strip().splitlines()[-1]) for r in runs)
    assert cold["code"] == warm["code"] == 1
    assert runs[0].stdout == runs[1].stdout and "timer-blocks-hibernation" in runs[1].stdout
    assert "durable_harden.analyzers.analysis" in cold["loaded"]  # the probe sees imports
    assert warm["loaded"] == [
        "durable_harden.analyzers",
        "durable_harden.analyzers.roots",
        "durable_harden.server",
        "durable_harden.server.check_cache",
        "durable_harden.server.check_output",
        "durable_harden.server.cli",
        "durable_harden.server.harden_cli",
        "durable_harden.server.inspect_cli",
    ]


ENGINE_PROBE = (
    "import sys, json\n"
    "from durable_harden.server.cli import main\n"
    "code = main(['check', '--no-cache', '--output-format', 'json', sys.argv[1]])\n"
    "from durable_harden.analyzers import reuse\n"
    "print(json.dumps({'code': code, 'loaded': sorted(m for m in sys.modules\n"
    "    if m.startswith('durable_harden.')),\n"
    "    'declared': [sorted(reuse.REACH_FACTS), sorted(reuse.QUIET_CALLS),\n"
    "                 sorted(reuse.FILE_PARTS), sorted(reuse.SCOPE_INDEXES)]}), file=sys.stderr)\n"
)


def test_a_check_does_not_import_the_servers_engine(tmp_path: Path) -> None:
    """The rules declare what the language server may reuse in `analyzers/reuse.py`, which the
    server's engine (`analyzers/incremental.py`) re-exports: a cold check imports every rule
    (their declarations filled) and SQL, but not the engine (~2.7 ms of its module body)."""
    worker = tmp_path / "worker.ts"
    worker.write_text(SQL_WORKER)
    result, out = _run_probe(ENGINE_PROBE, str(worker), cwd=tmp_path)
    assert "sql-interpolation" in {f["code"] for f in json.loads(out)}
    assert "durable_harden.analyzers.rules.sql_missing_index" in result["loaded"]
    assert "durable_harden.analyzers.incremental" not in result["loaded"]
    assert not any(m.startswith("durable_harden.server.lsp") for m in result["loaded"])
    reach, quiet, parts, indexes = result["declared"]
    assert {"obsolete-name-workaround", "rpc-result-not-disposed"} <= set(reach)
    assert {"sql-interpolation", "sql-missing-index", "sql-unbounded-read"} <= set(quiet)
    assert parts == ["rollout-unsafe"] and indexes == ["unbounded-table-growth"]


def test_the_engine_reexports_the_rules_declarations() -> None:
    """The server's code reads the declarations through `incremental`: the same objects (the
    registries the rules fill, the memo class, the constants)."""
    from durable_harden.analyzers import incremental, reuse

    for name in reuse.__all__:
        assert getattr(incremental, name) is getattr(reuse, name), name
        assert name in incremental.__all__


GIT_PROBE = (
    "import sys, json\n"
    "from durable_harden.server.cli import main\n"
    "code = main(['check', '--no-cache', '--output-format', 'json', *sys.argv[1:]])\n"
    "loaded = {m.split('.')[0] for m in sys.modules if sys.modules[m] is not None}\n"
    "hidden = [m for m, v in sys.modules.items() if v is None and 'typing_extensions' in m]\n"
    "import importlib.util\n"
    "extensions = importlib.util.find_spec('typing_extensions') is not None\n"
    "if extensions:\n"
    "    import typing_extensions\n"
    "    extensions = callable(typing_extensions.deprecated)\n"
    "print(json.dumps({'code': code, 'pathspec': 'pathspec' in loaded,\n"
    "    'asyncio': 'asyncio' in loaded, 'hidden': hidden, 'extensions': extensions}),\n"
    "    file=sys.stderr)\n"
)


def test_gitignore_read_without_asyncio(tmp_path: Path) -> None:
    """A check in a git repository reads its .gitignore with pathspec, imported without
    typing_extensions' `@deprecated` (which imports asyncio, ~25 ms): the ignored folder is
    still left out, and typing_extensions stays importable afterwards."""
    project = tmp_path / "project"
    (project / "src" / "generated").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / ".gitignore").write_text("# build output\nsrc/generated/\n")
    (project / "wrangler.toml").write_text('name = "w"\nmain = "src/worker.ts"\n')
    (project / "src" / "worker.ts").write_text(COUNTER)
    (project / "src" / "generated" / "copy.ts").write_text(COUNTER.replace("Counter", "Copy"))
    for paths in ([str(project)], [str(project / "src" / "worker.ts")]):
        result, out = _run_probe(GIT_PROBE, *paths, cwd=project)
        findings = json.loads(out)
        assert result["code"] == 1 and findings
        assert {Path(f["filename"]).name for f in findings} == {"worker.ts"}
        assert result["pathspec"] and not result["asyncio"]
        assert result["hidden"] == []
        installed = subprocess.run(
            [sys.executable, "-c", "import typing_extensions"], capture_output=True, check=False
        )
        assert result["extensions"] == (installed.returncode == 0)


PATHSPEC_PROBE = (
    "import sys, json, threading\n"
    "from durable_harden.analyzers import workspace\n"
    "if sys.argv[1] == 'thread':\n"
    "    stop = threading.Event()\n"
    "    threading.Thread(target=stop.wait).start()\n"
    "module = workspace._pathspec()\n"
    "print(json.dumps({'file': module.__file__, 'hidden': sys.modules.get('typing_extensions',\n"
    "    0) is None, 'extensions': 'typing_extensions' in sys.modules,\n"
    "    'saw_hidden': getattr(module, 'SAW_HIDDEN', None)}), file=sys.stderr)\n"
    "if sys.argv[1] == 'thread':\n"
    "    stop.set()\n"
)


@pytest.mark.parametrize("case", ["needs-extensions", "thread", "alone"])
def test_pathspec_imported_as_usual_when_hiding_cannot_work(tmp_path: Path, case: str) -> None:
    """typing_extensions is not hidden while another thread runs (its own import would fail),
    and a pathspec that cannot import without it (a later release) is imported as usual;
    alone, with a pathspec that does without it, it is hidden during the import (the control)."""
    site = tmp_path / "site"
    (site / "pathspec").mkdir(parents=True)
    # stand-ins for both packages, first on the path: the test does not depend on what is installed
    (site / "typing_extensions.py").write_text("")
    if case == "needs-extensions":  # a stand-in pathspec that requires typing_extensions
        (site / "pathspec" / "__init__.py").write_text("import typing_extensions\n")
    else:  # one that records whether typing_extensions was hidden while it imported
        (site / "pathspec" / "__init__.py").write_text(
            "import sys\nSAW_HIDDEN = sys.modules.get('typing_extensions', 0) is None\n"
        )
    result, _ = _run_probe(PATHSPEC_PROBE, case, cwd=tmp_path, first=site)
    assert result["file"] == str(site / "pathspec" / "__init__.py")
    assert not result["hidden"]  # never left hidden
    if case == "needs-extensions":
        assert result["extensions"]  # imported as usual the second time
    else:
        assert result["saw_hidden"] is (case == "alone")
