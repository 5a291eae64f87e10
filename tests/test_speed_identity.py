"""Findings are identical with and without each speed-up (issue 14): the on-disk cache on or off,
and the SQL caches tiny (evicting all the time) or large, on the examples and on a generated
monorepo. And with the caches sized to the project, each SQL text is parsed once per analysis."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_harden.analyzers import sql
from durable_harden.analyzers.analysis import analyze_paths
from durable_harden.server import check_cache
from durable_harden.server.cli import main
from tests.conftest import EXAMPLES, generate_monorepo


@pytest.fixture(params=["examples", "monorepo"])
def project(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    root = tmp_path / request.param
    if request.param == "examples":
        shutil.copytree(EXAMPLES, root)
    else:
        generate_monorepo(root, 60)
    monkeypatch.delenv(check_cache.NO_CACHE_ENV, raising=False)
    monkeypatch.delenv(check_cache.CACHE_DIR_ENV, raising=False)
    monkeypatch.chdir(root)
    yield root
    for cache in sql._TEXT_CACHES:
        cache.cache_clear()


def _report(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    code = main(["check", ".", "--output-format", "json", *flags])
    out, err = capsys.readouterr()
    return code, out, err


def _with_capacity(monkeypatch: pytest.MonkeyPatch, capacity: int) -> None:
    real = sql.fit_to_project
    monkeypatch.setattr(
        sql, "fit_to_project", lambda files, _capacity=None: real(files, capacity=capacity)
    )
    for cache in sql._TEXT_CACHES:
        cache.cache_clear()


def test_findings_are_identical_with_and_without_each_speed_up(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _report(capsys, "--no-cache")
    assert plain[0] == 1 and plain[1].count('"code"') > 3  # real findings to compare
    assert _report(capsys) == plain  # cold, writing the cache
    assert _report(capsys) == plain  # replayed from the cache
    with monkeypatch.context() as patch:
        _with_capacity(patch, 1)  # every SQL text evicted as soon as the next one comes
        assert _report(capsys, "--no-cache") == plain
        assert any(cache.misses > len(cache.entries) for cache in sql._TEXT_CACHES)
    with monkeypatch.context() as patch:
        _with_capacity(patch, 1_000_000)
        assert _report(capsys, "--no-cache") == plain


def test_each_sql_text_is_parsed_once_per_analysis(project: Path) -> None:
    for cache in sql._TEXT_CACHES:
        cache.cache_clear()
    sql.fit_to_project(0, capacity=4)  # a size too small for the project …
    result = analyze_paths([project])  # … that the analysis resizes to the project
    assert result.findings
    parsed = sql.parse_sql
    assert parsed.entries and parsed.misses == len(parsed.entries)  # no text parsed twice
    assert all(cache.misses == len(cache.entries) for cache in sql._TEXT_CACHES)
    # bounded: the capacity follows the project, it does not grow without limit
    assert all(cache.capacity == sql.BASE_CAPACITY for cache in sql._TEXT_CACHES)
    sql.fit_to_project(1000)
    assert all(cache.capacity == 1000 * sql.PER_FILE for cache in sql._TEXT_CACHES)
    sql.fit_to_project(1)
    assert all(cache.capacity == sql.BASE_CAPACITY for cache in sql._TEXT_CACHES)


def test_a_smaller_capacity_evicts_the_oldest_texts() -> None:
    cache = sql.TextCache(len)
    cache.resize(2)
    assert [cache("a"), cache("bb"), cache("a"), cache("ccc")] == [1, 2, 1, 3]
    assert list(cache.entries) == ["a", "ccc"]  # "bb" was the least recently used
    assert cache.misses == 3
    cache.resize(1)
    assert list(cache.entries) == ["ccc"]


def test_index_fixes_analyse_each_statement_once_and_build_the_same_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON/SARIF output builds a fix per finding: the sql-missing-index fixes share one analysis
    per statement (it re-analysed every statement in scope per fix), with the same fixes."""
    from durable_harden.codeactions import fixes_for
    from durable_harden.codeactions import sql_missing_index as builder

    generate_monorepo(tmp_path / "mono", 60)
    result = analyze_paths([tmp_path / "mono"])
    wanted = [f for f in result.findings if f.rule_id == "sql-missing-index"]
    assert len(wanted) >= 2
    seen: list[tuple[int, int]] = []
    real = builder.analyse

    def counting(stmt, schema):  # type: ignore[no-untyped-def]
        if schema is result.model.schema_for(stmt.file.path):
            seen.append((id(stmt), id(schema)))
        return real(stmt, schema)

    monkeypatch.setattr(builder, "analyse", counting)
    shared = [fixes_for(f, result.model) for f in wanted]
    # no statement analysed twice against the project's schema (a candidate index is checked
    # against a trial schema of its own: not counted)
    assert seen and len(seen) == len(set(seen))
    fresh = []
    for finding in wanted:
        result.model.memo.pop("sql-missing-index:analyse", None)  # as if built alone
        fresh.append(fixes_for(finding, result.model))
    assert [[(f.title, f.edits, f.creates) for f in fixes] for fixes in shared] == [
        [(f.title, f.edits, f.creates) for f in fixes] for fixes in fresh
    ]
    assert any(shared)
