"""What harden produces besides fixes: tests, vitest set-up, README section, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_harden.analyzers.findings import Finding, Span
from durable_harden.analyzers.generated_names import README_END, README_START
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.source import parse_source
from durable_harden.codeactions._jsonedit import json_add_entries
from durable_harden.codeactions._style import Style
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.harden import harden
from durable_harden.codeactions.harden.labels import kebab
from durable_harden.codeactions.harden.report import render_report
from tests.harden_fakes import Fakes, make_project, replace_with


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    # These tests exercise the scaffolding through a fake index fix; by default an index alone
    # gets no scaffolding (it needs no runtime test: tests/test_cli_conventions.py checks that).
    import durable_harden.codeactions.harden.outputs as outputs

    monkeypatch.setattr(
        outputs, "NEEDS_RUNTIME_TEST", outputs.NEEDS_RUNTIME_TEST | {"sql-missing-index"}
    )
    return Fakes(monkeypatch)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def index_fix(finding: Finding, model: ProjectModel) -> list[Fix]:
    s = finding.span
    ddl = "/* CREATE INDEX IF NOT EXISTS idx_hits_day ON hits(day) */"
    return [
        Fix(
            "idx",
            "Add idx_hits_day",
            Safety.SAFE,
            [Edit(s.path, s.start, s.end, ddl)],
            review="",
            facts={"indexes": [("idx_hits_day", "hits")]},
        )
    ]


def fix_with_table(table: str):  # type: ignore[no-untyped-def]
    def build(finding: Finding, model: ProjectModel) -> list[Fix]:
        finding.data["table"] = table
        return index_fix(finding, model)

    return build


# -- JSON edited in place ---------------------------------------------------------------------
def test_json_entries_go_in_alphabetical_place_with_neighbour_indentation() -> None:
    data = b'{\n    "name": "x",\n    "devDependencies": {\n        "typescript": "5.9.3",\n        "wrangler": "4"\n    }\n}\n'
    out = json_add_entries(data, "devDependencies", {"vitest": "4.1.12", "@a/b": "1"})
    assert out == (
        b'{\n    "name": "x",\n    "devDependencies": {\n        "@a/b": "1",\n'
        b'        "typescript": "5.9.3",\n        "vitest": "4.1.12",\n'
        b'        "wrangler": "4"\n    }\n}\n'
    )
    assert json_add_entries(out, "devDependencies", {"vitest": "9"}) == out  # present: kept


def test_json_missing_key_and_empty_object() -> None:
    out = json_add_entries(b'{\n  "name": "x"\n}\n', "scripts", {"test": "vitest run"})
    assert json.loads(out) == {"name": "x", "scripts": {"test": "vitest run"}}
    assert out == b'{\n  "name": "x",\n  "scripts": {\n    "test": "vitest run"\n  }\n}\n'
    out = json_add_entries(b'{\n  "devDependencies": {}\n}\n', "devDependencies", {"a": "1"})
    assert out == b'{\n  "devDependencies": {\n    "a": "1"\n  }\n}\n'
    with pytest.raises(ValueError):
        json_add_entries(b"[1, 2]", "x", {"a": "1"})


def test_style_follows_the_project() -> None:
    style = Style.of(b"import { A } from 'x';\nclass B {\n    f() {}\n}\n")
    assert style.quote == "'" and style.indent == "    "
    assert style.apply('it("a", () => {\n  x("b");\n});') == "it('a', () => {\n    x('b');\n});"
    assert kebab("ChatRoom") == "chat-room" and kebab("HTTPCache") == "http-cache"


# -- the outputs of a real plan ---------------------------------------------------------------
def test_index_pattern_produces_test_vitest_setup_readme(fakes: Fakes, project: Path) -> None:
    fakes.rule("sql-missing-index", "/*index*/", fix_with_table("hits"))
    plan = harden([project])
    root = project.resolve()
    test = root / "test" / "durable-harden" / "counter.test.ts"
    assert set(plan.created) == {test, root / "vitest.config.ts", root / "README.md"}
    assert root / "package.json" in plan.modified

    text = plan.contents[test].decode()
    assert 'from "cloudflare:test"' in text and "runInDurableObject" in text
    assert "runDurableObjectAlarm" not in text  # only what the tests use is imported
    assert '["COUNTER"]' in text
    assert '["idx_hits_day", "hits"]' in text
    assert "// durable-harden:pattern sql-missing-index" in text
    assert not parse_source(test, plan.contents[test]).error_ranges

    config = plan.contents[root / "vitest.config.ts"].decode()
    assert 'configPath: "./wrangler.jsonc"' in config
    assert "@cloudflare/vitest-pool-workers" in config
    package = json.loads(plan.contents[root / "package.json"])
    assert package["devDependencies"]["vitest"] and package["scripts"]["test"] == "vitest run"

    readme = plan.contents[root / "README.md"].decode()
    assert readme.startswith("# fake-project\n")
    assert README_START in readme and README_END in readme
    assert "### Counter" in readme and "`sql-missing-index`" in readme


def test_outputs_only_for_applied_patterns(fakes: Fakes, project: Path) -> None:
    fakes.rule("sql-missing-index", "/*index*/")  # reported, no fix: nothing generated
    plan = harden([project])
    assert not plan.has_changes and plan.generated == {}


def test_existing_vitest_setup_and_readme_are_respected(fakes: Fakes, project: Path) -> None:
    (project / "vitest.config.mts").write_text("export default {};\n")
    (project / "README.md").write_text("# Mine\n\nSome text.\n")
    fakes.rule("sql-missing-index", "/*index*/", fix_with_table("hits"))
    plan = harden([project])
    root = project.resolve()
    assert root / "vitest.config.ts" not in plan.contents
    assert root / "package.json" not in plan.contents  # set-up exists: package.json untouched
    readme = plan.contents[root / "README.md"].decode()
    assert readme.startswith("# Mine\n\nSome text.\n\n" + README_START)


def test_a_later_harden_adds_to_existing_tests_and_section(fakes: Fakes, project: Path) -> None:
    fakes.rule("sql-missing-index", "/*index*/", fix_with_table("hits"))
    first = harden([project])
    for path, data in first.contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # new code arrives with a new problem of another pattern
    src = project / "src" / "counter.ts"
    src.write_text(src.read_text().replace("const n = 1;", "/*name*/ const n = 1;"))
    fakes.rule("obsolete-name-workaround", "/*name*/", replace_with("/*named*/"))
    second = harden([project])
    root = project.resolve()
    test = second.contents[root / "test" / "durable-harden" / "counter.test.ts"].decode()
    assert test.count("// durable-harden:pattern sql-missing-index") == 1
    assert test.count("// durable-harden:pattern obsolete-name-workaround") == 1
    assert "state.id.name" in test
    assert not parse_source(Path("t.ts"), test.encode()).error_ranges
    readme = second.contents[root / "README.md"].decode()
    assert readme.count(README_START) == 1 and "`obsolete-name-workaround`" in readme
    assert readme.index("`sql-missing-index`") < readme.index("`obsolete-name-workaround`")


def test_ttl_test_seeds_every_required_column(fakes: Fakes, tmp_path: Path) -> None:
    counter = """import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, path TEXT NOT NULL, n INTEGER NOT NULL, note TEXT, expires_at INTEGER)",
    );
  }
  async fetch(request: Request): Promise<Response> {
    /*grow*/ this.ctx.storage.sql.exec("INSERT INTO hits (path, n) VALUES (?, ?)", "/", 1);
    return new Response("ok");
  }
}
"""
    project = make_project(tmp_path / "ttl", counter)

    def ttl(finding: Finding, model: ProjectModel) -> list[Fix]:
        finding.data["table"] = "hits"
        s = finding.span
        return [Fix("ttl", "TTL", Safety.UNSAFE, [Edit(s.path, s.start, s.end, "/*ttl*/")])]

    fakes.rule("unbounded-table-growth", "/*grow*/", ttl)
    plan = harden([project], unsafe=True)
    test = next(p for p in plan.created if p.name == "counter.test.ts")
    text = plan.contents[test].decode()
    assert (
        '"INSERT INTO hits (path, n, expires_at) VALUES (?, ?, ?)",\n'
        '        "durable-harden",\n        1,\n        Date.now() - 60_000,' in text
    )
    assert "expect(await runDurableObjectAlarm(stub)).toBe(true);" in text
    assert "WHERE expires_at <= ?" in text


def test_report_lists_patterns_files_leftovers_and_commands(fakes: Fakes, project: Path) -> None:
    fakes.rule("sql-missing-index", "/*index*/", fix_with_table("hits"))
    fakes.rule(
        "timer-blocks-hibernation",
        "/*grow*/",
        replace_with("/*alarm*/", Safety.UNSAFE, review="the timer's closure state"),
    )
    plan = harden([project])
    report = render_report(plan, written=True)
    assert "## Counter" in report
    assert "[indexes] **index for a scanning query** (sql-missing-index, safe)" in report
    assert "Reason: marker /*index*/" in report
    assert "timer-blocks-hibernation: marker /*grow*/ — unsafe fix not applied" in report
    assert "the timer's closure state" in report
    assert "- created `test/durable-harden/counter.test.ts`" in report
    assert "- modified `src/counter.ts`: +1 −1 lines" in report
    assert "npx tsc --noEmit" in report and "npx vitest run" in report
    assert "deploy-gradual" not in report
    assert report == render_report(harden([project]), written=True)


def test_report_names_the_rollout_script_when_present(fakes: Fakes, project: Path) -> None:
    (project / "scripts").mkdir()
    (project / "scripts" / "deploy-gradual.sh").write_text("#!/bin/sh\n")
    fakes.rule("sql-missing-index", "/*index*/", fix_with_table("hits"))
    report = render_report(harden([project]), written=False)
    assert "scripts/deploy-gradual.sh" in report
    assert "planned (nothing written)" in report


def test_span_helper_is_importable() -> None:
    # Span is the currency of findings; the fake rules rely on its shape
    assert Span(Path("a"), 1, 2).end == 2
