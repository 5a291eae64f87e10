"""The examples in Cloudflare's real toolchain: tsc and workerd (vitest-pool-workers, wrangler dev).

See docs/runtime-tests.md. Behaviour tests live in tests/runtime/behaviour/<example>/.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import OriginalRun
from .harness import (
    BEHAVIOUR_DIR,
    EXAMPLES,
    HARDENED,
    HardenReport,
    RuntimeProject,
    verified_rules,
    wrangler_dev,
)


@pytest.mark.parametrize("example", EXAMPLES)
def test_tsc_passes_on_original(example: str, original_run: Callable[[str], OriginalRun]) -> None:
    result = original_run(example).tsc
    if not result.ok:
        pytest.fail(result.describe(), pytrace=False)


@pytest.mark.parametrize("example", EXAMPLES)
def test_behaviour_in_workerd_original(
    example: str, original_run: Callable[[str], OriginalRun]
) -> None:
    typecheck = original_run(example).tsc_tests
    if not typecheck.ok:
        pytest.fail(typecheck.describe(), pytrace=False)
    result = original_run(example).vitest
    print(result.summary)
    if not result.ok:
        pytest.fail(result.describe(), pytrace=False)
    # Every behaviour file for the original build ran (none silently dropped).
    ran = {f for f in result.step.output.splitlines() if ".test.ts" in f}
    expected = [p.name for p in (BEHAVIOUR_DIR / example).glob("*.test.ts")]
    expected += [p.name for p in (BEHAVIOUR_DIR / example / "original").glob("*.test.ts")]
    for name in expected:
        assert any(name in line for line in ran), f"{name} did not run:\n{result.step.output}"


def test_harness_reports_a_broken_example(tmp_path: Path) -> None:
    """The wiring can fail: break SessionStore's TTL sweep and the behaviour tests must say so."""
    project = RuntimeProject("rate-limiter", tmp_path / "rate-limiter")
    store = project.dir / "src" / "session-store.ts"
    source = store.read_text(encoding="utf-8")
    sweep = '"DELETE FROM sessions WHERE expires_at <= ?"'
    assert source.count(sweep) == 1
    store.write_text(
        source.replace(sweep, '"DELETE FROM sessions WHERE 0 AND expires_at <= ?"'),
        encoding="utf-8",
    )
    project.add_behaviour_tests("original")
    result = project.vitest("mutant: sweep deletes nothing", ["test/behaviour/original"])
    assert not result.ok
    assert result.failed >= 1
    assert re.fullmatch(r"\d+ passed, [1-9]\d* failed", result.summary)
    failing = {f.test for f in result.failures}
    assert any("TTL alarm deletes expired rows" in name for name in failing), result.describe()
    assert "TTL alarm deletes expired rows" in result.describe()


# ---------------------------------------------------------------- persisted storage

# Rows written by one build must be readable by the next build on the same storage.
_ROOM = "persisted-room"
_OLD_MESSAGES = ["written before the upgrade", "also before"]


def _write_rows_then_read_back(
    old_build: Path, new_build: Path, persist: Path
) -> tuple[list[str], tuple[int, str]]:
    """Run `old_build` under wrangler dev with storage in `persist`, post messages, stop it;
    start `new_build` on the same storage and return (history bodies, POST result)."""
    with wrangler_dev(old_build, persist) as dev:
        for body in _OLD_MESSAGES:
            status, text = dev.request(
                "POST", f"/room/{_ROOM}/messages", {"author": "ann", "body": body}
            )
            assert status == 201, text
    with wrangler_dev(new_build, persist) as dev:
        status, text = dev.request("GET", f"/room/{_ROOM}/messages")
        assert status == 200, text
        bodies = [m["body"] for m in json.loads(text)]
        posted = dev.request(
            "POST", f"/room/{_ROOM}/messages", {"author": "bob", "body": "after the upgrade"}
        )
    return bodies, posted


def test_persisted_storage_survives_restart(
    tmp_path: Path, original_run: Callable[[str], OriginalRun]
) -> None:
    """Original → original on persisted storage. The hardened variant below swaps the second build."""
    build = original_run("chat-room").project.dir
    bodies, (status, text) = _write_rows_then_read_back(build, build, tmp_path / "persist")
    assert bodies == _OLD_MESSAGES
    assert status == 201, text


# ---------------------------------------------------------------- after `durable-harden harden`


def _fail_on(report: HardenReport) -> None:
    if report.vitest is not None:
        print(report.vitest.summary)
    failure = report.failure
    if failure:
        pytest.fail(failure, pytrace=False)


@pytest.mark.harden_runtime
@pytest.mark.parametrize("example", EXAMPLES)
def test_harden_and_verify(example: str, hardened_run: Callable[[str], HardenReport]) -> None:
    """tsc → harden --unsafe-fixes --yes → tsc → generated + hand-written tests in workerd."""
    report = hardened_run(example)
    _fail_on(report)
    ran = report.vitest.step.output if report.vitest else ""
    for test in sorted((BEHAVIOUR_DIR / example / "hardened").glob("*.test.ts")):
        assert test.name in ran, f"{test.name} did not run:\n{ran}"


# Fixes harden applies that change no runtime behaviour, with where they are verified instead.
NOT_RUNTIME_BEHAVIOUR = {
    "rollout-unsafe": (
        "adds scripts/deploy-gradual.sh and a package.json script, nothing the Worker runs; "
        "verified by shellcheck and a fake wrangler in tests/rules/test_rollout_unsafe.py"
    ),
}


@pytest.mark.harden_runtime
@pytest.mark.parametrize("example", EXAMPLES)
def test_every_applied_fix_has_a_runtime_test(
    example: str, hardened_run: Callable[[str], HardenReport]
) -> None:
    """A fix harden applies to an example must be exercised by a hand-written workerd test
    (`// verifies: <rule>` in behaviour/<example>/hardened/*.test.ts)."""
    report = hardened_run(example)
    if any(not step.ok for step in report.steps):
        pytest.fail(report.failure or "", pytrace=False)
    covered = {
        rule
        for test in (BEHAVIOUR_DIR / example / HARDENED).glob("*.test.ts")
        for rule in verified_rules(test)
    }
    uncovered = sorted(report.fixed_rules - covered - set(NOT_RUNTIME_BEHAVIOUR))
    assert not uncovered, (
        f"harden fixed {uncovered} in {example} but no test in "
        f"tests/runtime/behaviour/{example}/hardened/ says `// verifies: <rule>` for it"
    )


@pytest.mark.harden_runtime
def test_breaking_the_ttl_fix_fails_a_runtime_test(
    hardened_run: Callable[[str], HardenReport],
) -> None:
    """Mutate the hardened chat-room: the TTL sweep deletes nothing. A workerd test must fail."""
    report = hardened_run("chat-room")
    if report.failure:
        pytest.fail(report.failure, pytrace=False)
    if "unbounded-table-growth" not in report.fixed_rules:
        pytest.fail("harden applied no TTL fix to chat-room; nothing to break", pytrace=False)
    sweep = re.compile(r"DELETE FROM messages WHERE (?=[^\"'`]*expires_at)")
    originals: dict[Path, str] = {}
    for path in (report.project.dir / "src").rglob("*.ts"):
        text = path.read_text(encoding="utf-8")
        if sweep.search(text):
            originals[path] = text
            path.write_text(sweep.sub("DELETE FROM messages WHERE 0 AND ", text), encoding="utf-8")
    assert originals, "no `DELETE FROM messages WHERE … expires_at` in the hardened chat-room"
    try:
        result = report.project.vitest(
            "mutant: TTL sweep deletes nothing", ["test/behaviour/hardened/ttl-cleanup.test.ts"]
        )
    finally:
        for path, text in originals.items():
            path.write_text(text, encoding="utf-8")
    assert not result.ok and result.failed >= 1, result.describe()
    assert any("deletes expired rows" in f.test for f in result.failures), result.describe()


# Mutations of the hardened chat-room that the tests harden *generates* must catch:
# (rule, what is broken, regex in src/, replacement, title of the generated test that must fail)
GENERATED_TEST_MUTANTS = [
    (
        "websocket-not-hibernatable",
        "socket accepted with server.accept() again",
        r"this\.ctx\.acceptWebSocket\(server\);",
        "server.accept();",
        "accepts sockets through the hibernation API",
    ),
    (
        "timer-blocks-hibernation",
        "alarm no longer does the former setInterval's work",
        r"this\.broadcastPresence\(\);",
        "void 0;",
        "runs broadcastPresence() from alarm() instead of a setInterval",
    ),
]


@pytest.mark.harden_runtime
@pytest.mark.parametrize(
    ("rule", "what", "pattern", "replacement", "title"),
    GENERATED_TEST_MUTANTS,
    ids=[m[0] for m in GENERATED_TEST_MUTANTS],
)
def test_breaking_the_pattern_fails_the_generated_test(
    hardened_run: Callable[[str], HardenReport],
    rule: str,
    what: str,
    pattern: str,
    replacement: str,
    title: str,
) -> None:
    """Break one applied pattern in the hardened chat-room: the test harden generated for it
    (test/durable-harden/chat-room.test.ts) must fail, and only that one."""
    report = hardened_run("chat-room")
    if report.failure:
        pytest.fail(report.failure, pytrace=False)
    if rule not in report.fixed_rules:
        pytest.fail(f"harden applied no {rule} fix to chat-room; nothing to break", pytrace=False)
    generated = "test/durable-harden/chat-room.test.ts"
    assert title in (report.project.dir / generated).read_text(encoding="utf-8")
    originals: dict[Path, str] = {}
    for path in (report.project.dir / "src").rglob("*.ts"):
        text = path.read_text(encoding="utf-8")
        if re.search(pattern, text):
            originals[path] = text
            path.write_text(re.sub(pattern, replacement, text), encoding="utf-8")
    assert originals, f"no {pattern!r} in the hardened chat-room"
    try:
        result = report.project.vitest(f"mutant: {what}", [generated])
    finally:
        for path, text in originals.items():
            path.write_text(text, encoding="utf-8")
    assert not result.ok, result.describe()
    assert [f.test for f in result.failures if title in f.test], result.describe()
    assert all(title in f.test for f in result.failures), result.describe()


@pytest.mark.harden_runtime
def test_hardened_build_keeps_rows_on_old_storage(
    tmp_path: Path,
    original_run: Callable[[str], OriginalRun],
    hardened_run: Callable[[str], HardenReport],
) -> None:
    """An object created before hardening (old schema, with rows) keeps them, and the hardened
    INSERT (which writes expires_at) works on it: the migration added the column."""
    report = hardened_run("chat-room")
    _fail_on(report)
    # A clean copy of the hardened build: the vitest run left .wrangler state in the first.
    hardened = tmp_path / "hardened-build"
    shutil.copytree(
        report.project.dir,
        hardened,
        symlinks=True,
        ignore=shutil.ignore_patterns(".wrangler", ".vite-cache", "*.log"),
    )
    bodies, (status, text) = _write_rows_then_read_back(
        original_run("chat-room").project.dir, hardened, tmp_path / "persist"
    )
    assert bodies == _OLD_MESSAGES
    assert status == 201, text
