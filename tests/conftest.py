"""Shared test helpers: build small DO projects on disk and analyse them."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from durable_harden.analyzers.analysis import AnalysisResult, Settings, analyze_paths

ROOT = Path(__file__).resolve().parent.parent

# `check`'s on-disk cache is off in the tests (and their subprocesses) unless a test turns it on
# (tests/test_speed_cache.py): a test that patches a rule must not get an earlier run's report,
# and the tests must not leave .durable-harden-cache/ folders in examples/
os.environ["DURABLE_HARDEN_NO_CACHE"] = "1"
EXAMPLES = ROOT / "examples"


def generate_monorepo(out: Path, files: int) -> None:
    """bench/generate.py's monorepo of `files` source files into `out` (the speed tests' larger
    project; bench/ is not a package, so the module is loaded from its file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(out, files)


MINIMAL_WRANGLER = """{
  "name": "test-worker",
  "main": "src/index.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [] },
  "migrations": []
}
"""


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


def sql_class_model(root: Path, ddl: str, queries: list[str]) -> Any:
    """The model of a one-class project under `root` whose constructor runs `ddl` and whose
    `run()` executes each of `queries` (the schema and query-plan tests' project)."""
    from durable_harden.analyzers.analysis import workspace_for
    from durable_harden.analyzers.model import build_model

    calls = "\n".join(f'    this.ctx.storage.sql.exec("{q}", 1);' for q in queries)
    write_tree(
        root,
        {
            "wrangler.jsonc": MINIMAL_WRANGLER,
            "src/index.ts": (
                'import { DurableObject } from "cloudflare:workers";\n'
                "export class Chat extends DurableObject {\n"
                "  constructor(ctx: DurableObjectState, env: unknown) {\n"
                "    super(ctx, env);\n"
                f"    this.ctx.storage.sql.exec(`{ddl}`);\n"
                "  }\n"
                f"  run() {{\n{calls}\n  }}\n"
                "}\n"
            ),
        },
    )
    ws = workspace_for([root])
    return build_model(ws.root, ws.sources, ws.configs)


def catalogue_of(schema: Any) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """A schema's tables and indexes as plain tuples (statements by identity), to compare."""
    tables = [
        (k, t.name, t.columns, t.primary_key, t.without_rowid, [id(s) for s in t.statements])
        for k, t in schema.tables.items()
    ]
    indexes = [
        (k, i.name, i.table, i.columns, i.unique, i.origin, id(i.statement))
        for k, i in schema.indexes.items()
    ]
    return tables, indexes


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """project({"src/a.ts": "...", "wrangler.jsonc": "..."}) -> the project folder."""

    def make(files: dict[str, str | bytes]) -> Path:
        return write_tree(tmp_path / "proj", files)

    return make


@pytest.fixture
def analyze(project: Callable[..., Path]) -> Callable[..., AnalysisResult]:
    def run(files: dict[str, str | bytes], select: list[str] | None = None) -> AnalysisResult:
        root = project(files)
        return analyze_paths([root], Settings(select=select))

    return run


def line_of(path: Path, snippet: str) -> int:
    """1-based line of the only line containing snippet."""
    rows = [
        i
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if snippet in line
    ]
    assert len(rows) == 1, f"{snippet!r} occurs on lines {rows} of {path}"
    return rows[0]


# On CI every tool the tests drive is installed by .ci/run: a test skipped for a missing tool
# would hide a broken install step, so there it fails instead. Opt-in suites say "opt-in".
_MISSING_TOOL = re.compile(r"not installed|needs |apt-get install|npm ci", re.I)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if _MISSING_TOOL.search(reason) and "opt-in" not in reason:
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, where .ci/run must install what it needs: {reason}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--snapshot-update",
        action="store_true",
        default=False,
        help="rewrite the rule snapshots (tests/fixtures/<rule-id>/snapshots/) from what the "
        "rules and fixes produce now, instead of comparing with them",
    )
