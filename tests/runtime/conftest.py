"""Fixtures for the runtime suite (tsc + workerd). See docs/runtime-tests.md."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from .harness import (
    ORIGINAL,
    HardenReport,
    RuntimeProject,
    StepResult,
    VitestResult,
    harden_and_verify,
    harden_unavailable,
    toolchain_missing,
)

HARDEN_MARKER = "harden_runtime"
_SKIP_ENV = "DURABLE_HARDEN_SKIP_RUNTIME"

_vitest_results: list[VitestResult] = []
_notes: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{HARDEN_MARKER}: runs `durable-harden harden` on an example and verifies the result "
        "in workerd; deselected (with the reason printed) only while the subcommand does not exist",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [item for item in items if item.get_closest_marker(HARDEN_MARKER)]
    if not marked:
        return
    reason = harden_unavailable()
    if reason is None:
        return
    items[:] = [item for item in items if not item.get_closest_marker(HARDEN_MARKER)]
    config.hook.pytest_deselected(items=marked)
    _notes.append(
        f"runtime: deselected {len(marked)} `{HARDEN_MARKER}` test(s) because {reason}; "
        "they run automatically once the subcommand exists"
    )


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    return list(_notes)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if not _vitest_results and not _notes:
        return
    terminalreporter.section("runtime (workerd)")
    for note in _notes:
        terminalreporter.write_line(note)
    for result in _vitest_results:
        terminalreporter.write_line(f"vitest {result.label}: {result.summary}")
    if _vitest_results:
        passed = sum(r.passed for r in _vitest_results)
        failed = sum(r.failed for r in _vitest_results)
        terminalreporter.write_line(f"{passed} passed, {failed} failed")


@pytest.fixture(scope="session", autouse=True)
def _toolchain() -> None:
    if os.environ.get(_SKIP_ENV) == "1":
        pytest.skip(f"{_SKIP_ENV}=1: runtime suite switched off on purpose")
    missing = toolchain_missing()
    if missing:
        pytest.fail(missing, pytrace=False)


def record(result: VitestResult) -> VitestResult:
    """Keep a vitest result for the `N passed, N failed` summary lines."""
    _vitest_results.append(result)
    return result


class OriginalRun:
    """One temporary copy of an example per session: tsc once, vitest once (all files)."""

    def __init__(self, project: RuntimeProject) -> None:
        self.project = project
        self._tsc: StepResult | None = None
        self._vitest: VitestResult | None = None
        self._tsc_tests: StepResult | None = None

    @property
    def tsc(self) -> StepResult:
        if self._tsc is None:
            self._tsc = self.project.tsc()
        return self._tsc

    @property
    def tsc_tests(self) -> StepResult:
        """tsc over the behaviour tests copied for the original build."""
        if self._tsc_tests is None:
            self.project.add_behaviour_tests(ORIGINAL)
            self._tsc_tests = self.project.tsc_tests("original")
        return self._tsc_tests

    @property
    def vitest(self) -> VitestResult:
        if self._vitest is None:
            _ = self.tsc_tests  # copies the tests
            self._vitest = record(self.project.vitest("original"))
        return self._vitest


@pytest.fixture(scope="session")
def original_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], OriginalRun]:
    runs: dict[str, OriginalRun] = {}

    def get(example: str) -> OriginalRun:
        if example not in runs:
            dest = tmp_path_factory.mktemp(f"original-{example}") / example
            runs[example] = OriginalRun(RuntimeProject(example, dest))
        return runs[example]

    return get


@pytest.fixture(scope="session")
def hardened_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], HardenReport]:
    """harden_and_verify() once per example per session (shared by every harden test)."""
    reports: dict[str, HardenReport] = {}

    def get(example: str) -> HardenReport:
        if example not in reports:
            dest = tmp_path_factory.mktemp(f"hardened-{example}") / example
            reports[example] = harden_and_verify(example, dest)
            if reports[example].vitest is not None:
                record(reports[example].vitest)
            _notes.extend(reports[example].notes())
        return reports[example]

    return get
