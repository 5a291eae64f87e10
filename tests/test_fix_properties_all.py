"""Property tests for every rule that has fixes (`codeactions.builders()`), beyond the SQL rules of
tests/test_fix_properties.py whose layout helpers this file shares:

- hibernation / WebSocket / alarm fixes over their `*.before.ts` / `flagged.ts` fixtures, with
  random indentation and comment lines, random rule subsets, safe only or safe + unsafe;
- identity / config fixes over the fixture projects with a wrangler.jsonc or wrangler.toml,
  with random comment and blank lines between entries, trailing commas on or off and CRLF line
  endings: the config still loads after the fix, every comment we planted is still there, a CRLF
  file gains no bare LF;
- "harden all" (`plan_workspace`) over the examples with random unsafe / outputs / rule subsets:
  the same input gives byte-identical changes, and a plan over its own output changes nothing.

Every property also checks the two fix laws of DESIGN.md: no new tree-sitter ERROR node, and a
second fix-all changes nothing.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_harden.analyzers.wrangler import load_config
from durable_harden.codeactions import builders
from durable_harden.codeactions.harden import harden
from tests.harden_fakes import fix_all_on_disk
from tests.rules._support import EXAMPLES, FIXTURES
from tests.test_fix_properties import SQL_RULES, _errors, _vary

# each fixture is a pytest parameter, so every one gets its own examples
PROPERTY = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

HIBERNATION_RULES = [
    "timer-blocks-hibernation",
    "websocket-not-hibernatable",
    "websocket-state-in-memory",
    "websocket-manual-ping",
    "websocket-close-handshake",
    "serialize-attachment-misuse",
    "alarm-unconditional-in-constructor",
    "alarm-shared-by-purposes",
    "alarm-retry-suppressed",
    "setalarm-without-handler",
    "deleteall-leaves-alarm",
]

CONFIG_RULES = [
    "binding-class-not-found",
    "binding-missing-migration",
    "class-not-exported",
    "id-name-undefined",
    "kv-backed-class",
    "obsolete-name-workaround",
    "rollout-unsafe",
    "rpc-compat-date",
    "rpc-result-not-disposed",
    "unawaited-rpc",
    "migration-history-edited",
]

# one TypeScript fixture file per case: (rule, file under tests/fixtures/<rule>/)
TS_CASES = sorted(
    (rule, path.name)
    for rule in HIBERNATION_RULES
    for path in (FIXTURES / rule).glob("*.ts")
    if path.name.endswith(".before.ts") or path.name == "flagged.ts"
)

CONFIG_PROJECTS = [
    FIXTURES / "binding-missing-migration" / "missing-jsonc",
    FIXTURES / "binding-missing-migration" / "exports-block",
    FIXTURES / "binding-missing-migration" / "migrated-toml",
    FIXTURES / "class-not-exported" / "missing",
    FIXTURES / "class-not-exported" / "no-main",
    FIXTURES / "id-name-undefined" / "flagged",
    FIXTURES / "kv-backed-class" / "legacy",
    FIXTURES / "obsolete-name-workaround" / "flagged",
    FIXTURES / "obsolete-name-workaround" / "mixed-callers",
    FIXTURES / "rollout-unsafe" / "pipelines",
    FIXTURES / "rollout-unsafe" / "plain-deploy",
    FIXTURES / "rollout-unsafe" / "workflow-deploy",
    FIXTURES / "unawaited-rpc" / "worker",
]

CONFIG = (
    '{ "name": "w", "main": "src/{main}", "compatibility_date": "2026-03-01",\n'
    '  "migrations": [{ "tag": "v1", "new_sqlite_classes": [] }] }\n'
)


def test_every_rule_with_fixes_is_covered() -> None:
    """A new fix builder must join one of the property suites (or the SQL one)."""
    covered = set(HIBERNATION_RULES) | set(CONFIG_RULES) | set(SQL_RULES) | {"unused-suppression"}
    assert set(builders()) <= covered, set(builders()) - covered
    assert all((FIXTURES / rule).is_dir() for rule in HIBERNATION_RULES)
    assert {rule for rule, _ in TS_CASES} >= set(HIBERNATION_RULES)


# -- fix-all on disk (the planner behind `check --fix`) ------------------------------------------
def _fix_all(root: Path, rules: list[str], unsafe: bool) -> int:
    return fix_all_on_disk(root, rules, unsafe)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def _assert_settled(root: Path, rules: list[str], unsafe: bool) -> None:
    fixed = _snapshot(root)
    assert _fix_all(root, rules, unsafe) == 0, "a second fix-all changed files"
    assert _snapshot(root) == fixed


# -- hibernation / WebSocket / alarm --------------------------------------------------------------
@pytest.mark.parametrize("case", TS_CASES, ids=lambda c: f"{c[0]}/{c[1]}")
@PROPERTY
@given(
    indent=st.sampled_from(["  ", "    ", "\t"]),
    notes=st.sets(st.integers(min_value=0, max_value=150), max_size=6),
    rules=st.lists(st.sampled_from(HIBERNATION_RULES), min_size=0, max_size=4, unique=True),
    unsafe=st.booleans(),
    with_config=st.booleans(),
    crlf=st.booleans(),
)
def test_hibernation_fixes_parse_and_settle(
    case: tuple[str, str],
    indent: str,
    notes: set[int],
    rules: list[str],
    unsafe: bool,
    with_config: bool,
    crlf: bool,
) -> None:
    rule, name = case
    rules = sorted({rule, *rules})  # the fixture's own rule always runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        (root / "src").mkdir(parents=True)
        target = root / "src" / name.replace(".before", "")
        original = (FIXTURES / rule / name).read_text()
        varied = _vary(target, original, indent, notes, " ")
        if _errors(target, varied.encode()) > _errors(target, original.encode()):
            varied = original
        target.write_bytes(varied.replace("\n", "\r\n" if crlf else "\n").encode())
        if with_config:
            (root / "wrangler.jsonc").write_text(CONFIG.replace("{main}", target.name))
        _fix_all(root, rules, unsafe)
        _assert_settled(root, rules, unsafe)
        if crlf:  # a CRLF file stays CRLF (codeactions.fixes_for converts the builders' "\n")
            for path in root.rglob("*.ts"):
                data = path.read_bytes()
                assert re.search(rb"(?<!\r)\n", data) is None, f"{path.name}: bare LF in CRLF"


# -- identity / config ----------------------------------------------------------------------------
_ENTRY_JSON = re.compile(r'^\s*("|\{|\[)')
_ENTRY_TOML = re.compile(r"^\s*(\[|[A-Za-z_\"])")
_CLOSER = re.compile(r"^\s*[}\]]")
_VALUE_END = re.compile(r'(["}\]]|\d|true|false|null)$')


def _vary_config(
    path: Path, text: str, notes: set[int], blanks: set[int], commas: str, crlf: bool
) -> tuple[str, list[str]]:
    """The same config in another layout; returns it and the comment lines planted in it."""
    toml = path.suffix == ".toml"
    entry = _ENTRY_TOML if toml else _ENTRY_JSON
    lines = text.split("\n")
    out: list[str] = []
    planted: list[str] = []
    for number, line in enumerate(lines):
        lead = line[: len(line) - len(line.lstrip())]
        if number > 0 and entry.match(line) and not _CLOSER.match(line):
            if number in notes:
                note = f"{'#' if toml else '//'} planted note {number}"
                planted.append(lead + note)
                out.append(lead + note)
            if number in blanks:
                out.append("")
        out.append(line)
    if not toml and commas != "keep":
        for i in range(len(out) - 1):
            nxt = next(
                (s for s in out[i + 1 :] if s.strip() and not s.strip().startswith("//")), ""
            )
            if not _CLOSER.match(nxt) or "//" in out[i]:
                continue
            if commas == "strip" and out[i].rstrip().endswith(","):
                out[i] = out[i].rstrip()[:-1]
            elif commas == "add" and _VALUE_END.search(out[i].rstrip()):
                out[i] = out[i].rstrip() + ","
    varied = "\n".join(out)
    if crlf:
        varied = varied.replace("\n", "\r\n")
    return varied, planted


def _config_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("wrangler.*") if p.suffix in {".jsonc", ".json", ".toml"})


@pytest.mark.parametrize("project", CONFIG_PROJECTS, ids=lambda p: f"{p.parent.name}/{p.name}")
@PROPERTY
@given(
    notes=st.sets(st.integers(min_value=1, max_value=40), max_size=8),
    blanks=st.sets(st.integers(min_value=1, max_value=40), max_size=4),
    commas=st.sampled_from(["keep", "strip", "add"]),
    crlf=st.booleans(),
    rules=st.none() | st.lists(st.sampled_from(CONFIG_RULES), min_size=1, max_size=5, unique=True),
    unsafe=st.booleans(),
)
def test_config_fixes_keep_the_config_loading_and_settle(
    project: Path,
    notes: set[int],
    blanks: set[int],
    commas: str,
    crlf: bool,
    rules: list[str] | None,
    unsafe: bool,
) -> None:
    rules = CONFIG_RULES if rules is None else rules  # None: every config rule at once
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / project.name
        shutil.copytree(project, root)
        planted: dict[Path, list[str]] = {}
        for path in _config_files(root):
            original = path.read_bytes()
            varied, notes_in = _vary_config(path, original.decode(), notes, blanks, commas, crlf)
            # the variation must be the same config, else the property means nothing
            if load_config(path, varied.encode()).values != load_config(path, original).values:
                continue
            path.write_bytes(varied.encode())
            planted[path] = notes_in
        _fix_all(root, rules, unsafe)
        for path, notes_in in planted.items():
            data = path.read_bytes()
            load_config(path, data)  # raises ConfigError when the fix broke it
            text = data.decode()
            for note in notes_in:
                assert text.count(note + ("\r\n" if crlf else "\n")) == 1, (path.name, note)
            if crlf:
                assert re.search(rb"(?<!\r)\n", data) is None, f"{path.name}: bare LF in CRLF file"
        _assert_settled(root, rules, unsafe)


# -- harden all ------------------------------------------------------------------------------------
ALL_FIX_RULES = sorted(builders())


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    unsafe=st.booleans(),
    outputs=st.booleans(),
    rules=st.none() | st.lists(st.sampled_from(ALL_FIX_RULES), min_size=1, max_size=8, unique=True),
    indent=st.sampled_from(["  ", "    ", "\t"]),
)
def test_harden_plan_is_deterministic_and_settles(
    unsafe: bool, outputs: bool, rules: list[str] | None, indent: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "examples"
        shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("node_modules"))
        for path in root.rglob("*.ts"):
            original = path.read_text()
            varied = _vary(path, original, indent, set(), " ")
            if _errors(path, varied.encode()) <= _errors(path, original.encode()):
                path.write_text(varied)
        first = harden([root], unsafe=unsafe, outputs=outputs, rules=rules)
        again = harden([root], unsafe=unsafe, outputs=outputs, rules=rules)
        assert first.changes() == again.changes(), "same input, different output"
        assert first.converged
        for path, (_, data) in first.changes().items():
            if path.suffix == ".ts":
                before = path.read_bytes() if path.exists() else b""
                assert _errors(path, data) <= _errors(path, before), path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        second = harden([root], unsafe=unsafe, outputs=outputs, rules=rules)
        assert not second.has_changes, sorted(str(p) for p in second.changes())
        assert second.applied == []
