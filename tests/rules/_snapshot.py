"""Before/after snapshots of a rule on its fixtures, kept as plain text next to the fixtures.

Each fixture case of a rule (an entry of `tests/fixtures/<rule-id>/`: a project folder, or one
`.ts` file that is analysed as `src/<name>`) has a snapshot
`tests/fixtures/<rule-id>/snapshots/<case>.snap` that the real rule and its real fixes write:
every finding (file:line:col-line:col, rule id/message id, severity, message, related spans, the
source line) and every fix offered for it (title, safety, what to review, and its edits as a
unified diff of the file before and after, new files in full). Rendering also checks the rule
record's declarations (`assert_declared`: the message id, each fix's safety). Cases named `after`, `*-after` or `*.after.*` are the
expected results of fix-all tests, not cases of their own. A case folder holding `.git-head/`
is made a git repository first (see lay_out_case).

A test compares the snapshot with what the code produces now and fails on any difference. After
a deliberate change, rewrite them and review the diff like any code change:

    python3 -m pytest tests/rules --snapshot-update          # every rule
    python3 -m pytest tests/rules/test_sql_interpolation.py --snapshot-update   # one rule

A missing snapshot is an error unless --snapshot-update is given, so CI never writes one. The
expected results of fix-all tests (`x.after.ts`, `after/`) are compared through expect_file()
and rewritten by the same option.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from pathlib import Path

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.findings import Finding, Span
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules import rule_by_id
from durable_harden.codeactions import Fix, apply_edits, fixes_for, spec_for
from tests.rules._support import FIXTURES

SNAPSHOTS = "snapshots"
SUFFIX = ".snap"
GIT_HEAD = ".git-head"
UPDATE_COMMAND = "python3 -m pytest {test} --snapshot-update"
_AFTER = re.compile(r"(^after$|-after$|\.after\.)")


def is_case(entry: Path) -> bool:
    """A fixture case: a project folder or a single .ts file, not an expected fix-all result."""
    if (
        entry.name in (SNAPSHOTS, GIT_HEAD)
        or entry.name.startswith(".")
        or _AFTER.search(entry.name)
    ):
        return False
    return entry.is_dir() or entry.suffix == ".ts"


def fixture_cases(rule_id: str) -> list[str]:
    """The names of the rule's fixture cases, sorted (for pytest.mark.parametrize). A rule
    without any is an error at collection, not a silently skipped test."""
    folder = FIXTURES / rule_id
    cases = sorted(e.name for e in folder.iterdir() if is_case(e)) if folder.is_dir() else []
    if not cases:
        raise LookupError(f"{folder} has no fixture case (a project folder or a .ts file)")
    return cases


def snapshot_path(rule_id: str, case: str) -> Path:
    return FIXTURES / rule_id / SNAPSHOTS / f"{case}{SUFFIX}"


def lay_out_case(rule_id: str, case: str, dest: Path) -> Path:
    """A project folder holding the case: the folder itself, or `src/<case>` for a file.

    A case folder with a `.git-head/` folder is a git repository: `.git-head/` holds the files
    as committed (HEAD), the case's other files are laid over them as uncommitted edits."""
    source = FIXTURES / rule_id / case
    root = dest / "case"
    if source.is_file():
        (root / "src").mkdir(parents=True)
        shutil.copy(source, root / "src" / case)
        return root
    head = source / GIT_HEAD
    if head.is_dir():
        shutil.copytree(head, root)
        _commit(root)
    shutil.copytree(source, root, ignore=shutil.ignore_patterns(GIT_HEAD), dirs_exist_ok=True)
    return root


def _commit(root: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "fixture",
        "GIT_AUTHOR_EMAIL": "fixture@example.invalid",
        "GIT_COMMITTER_NAME": "fixture",
        "GIT_COMMITTER_EMAIL": "fixture@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "deployed"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


class Snapshots:
    """Compares text with a snapshot file, or rewrites the file when updating."""

    def __init__(self, update: bool, test: str) -> None:
        self.update = update
        self.test = test

    def check(self, path: Path, actual: str) -> None:
        expected = path.read_text(encoding="utf-8") if path.exists() else None
        if expected == actual:
            return
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        command = UPDATE_COMMAND.format(test=self.test)
        if expected is None:
            raise AssertionError(f"no snapshot {path}; write it with `{command}` and review it")
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"{path.name} (committed)",
                f"{path.name} (produced now)",
            )
        )
        raise AssertionError(
            f"{path} differs from what the rule produces now; if the change is intended, "
            f"run `{command}` and review the diff.\n{diff}"
        )


# Set from --snapshot-update by tests/rules/conftest.py (for expect_file, used outside fixtures).
UPDATE = False


def expect_file(actual: str, expected: Path) -> None:
    """Compare a fix-all result with its expected file (`x.after.ts`, a file under `after/`), or
    rewrite that file under --snapshot-update: expected results are written by the real fixes
    too, never by hand."""
    test = "tests/rules/test_" + expected.relative_to(FIXTURES).parts[0].replace("-", "_") + ".py"
    Snapshots(UPDATE, test).check(expected, actual)


def check_case(
    rule_id: str,
    case: str,
    tmp_path: Path,
    snapshots: Snapshots,
    select: list[str] | None = None,
) -> str:
    """Run the rule over one fixture case and compare the rendering with its snapshot. Returns
    the rendering (a test may assert on it further). Only the rule runs, unless `select` names
    the rules to run with it (unused-suppression needs the rules its comments name); only its
    findings are recorded."""
    root = lay_out_case(rule_id, case, tmp_path)
    result = analyze_paths([root], Settings(select=select or [rule_id]))
    assert not [p for p in result.problems if "internal error" in p.message], result.problems
    findings = [f for f in result.findings if f.rule_id == rule_id]
    model = result.model
    text = render(rule_id, case, root, findings, model)
    snapshots.check(snapshot_path(rule_id, case), text)
    return text


def render(
    rule_id: str, case: str, root: Path, findings: list[Finding], model: ProjectModel
) -> str:
    root = root.resolve()
    out = [
        f"# {rule_id} on tests/fixtures/{rule_id}/{case}\n",
        "# Written by the rule and its fixes (tests/rules/_snapshot.py); do not edit by hand.\n",
        f"# {len(findings)} finding{'' if len(findings) == 1 else 's'}\n",
    ]
    shown: set[tuple[str, str]] = set()  # new files already printed in full
    for finding in sorted(findings, key=Finding.sort_key):
        out.append("\n")
        out.extend(_finding(finding, root, model, shown))
    return "".join(out)


def _finding(
    finding: Finding, root: Path, model: ProjectModel, shown: set[tuple[str, str]]
) -> list[str]:
    lines = [
        f"{_where(finding.span, root)} {finding.qualified_message_id} "
        f"({finding.severity.name.lower()})\n",
        *_block("message", _rel(finding.message, root)),
    ]
    source = _line_text(finding.span)
    if source is not None:
        lines.append(f"  source: {source}\n")
    for related in finding.related:
        lines.append(f"  related: {_where(related.span, root)} {_rel(related.message, root)}\n")
    fixes = fixes_for(finding, model)
    assert_declared(finding, fixes)
    for fix in fixes:
        lines.extend(_fix(fix, root, shown))
    return lines


def assert_declared(finding: Finding, fixes: list[Fix]) -> None:
    """What the rule record declares holds for this finding and its fixes: the message id is
    one of the rule's `messages`, and each fix's safety is one its spec's docs state
    (`FixSpec.safeties`); a rule without a spec offers no fix. Every fixture case goes through
    here, so every builder is checked on every fixture it fixes."""
    rule = rule_by_id(finding.rule_id)
    assert rule is not None, finding.rule_id
    assert finding.message_id in rule.messages, (
        f"{finding.rule_id}: message id {finding.message_id!r} is not declared in RULE.messages"
    )
    spec = spec_for(finding.rule_id)
    if spec is None:
        assert not fixes, f"{finding.rule_id} has no fix spec but offered {fixes}"
        return
    for fix in fixes:
        assert fix.safety in spec.safeties, (
            f"{finding.rule_id}: fix {fix.fix_id!r} is {fix.safety.value}, but "
            f"codeactions/{finding.rule_id.replace('-', '_')}.py declares only "
            f"{sorted(s.value for s in spec.safeties)} (FIX_DOCS offers)"
        )


def _fix(fix: Fix, root: Path, shown: set[tuple[str, str]]) -> list[str]:
    lines = [f"  fix ({fix.safety.value}): {_rel(fix.title, root)}\n"]
    if fix.review:
        lines.extend("  " + line for line in _block("review", _rel(fix.review, root)))
    by_file: dict[Path, list] = {}
    for edit in fix.edits:
        by_file.setdefault(edit.path, []).append(edit)
    for path in sorted(by_file):
        before = path.read_bytes().decode("utf-8")
        after = apply_edits(path.read_bytes(), by_file[path]).decode("utf-8")
        name = _relpath(path, root)
        diff = difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), name, name, n=2
        )
        lines.extend(_indented(diff, "    "))
    for new in sorted(fix.creates, key=lambda n: n.path):
        key = (_relpath(new.path, root), new.content)
        if key in shown:
            lines.append(f"    new file {key[0]} (the same content as above)\n")
            continue
        shown.add(key)
        lines.append(f"    new file {key[0]}\n")
        lines.extend(_indented(new.content.splitlines(keepends=True), "    | "))
    return lines


def _where(span: Span, root: Path) -> str:
    data = span.path.read_bytes()
    return f"{_relpath(span.path, root)}:{_line_col(data, span.start)}-{_line_col(data, span.end)}"


def _line_col(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return f"{line}:{column}"


def _line_text(span: Span) -> str | None:
    data = span.path.read_bytes()
    start = data.rfind(b"\n", 0, span.start) + 1
    end = data.find(b"\n", span.start)
    text = data[start : end if end >= 0 else len(data)].decode("utf-8", errors="replace")
    text = text.rstrip("\r").strip()
    return text or None


def _relpath(path: Path, root: Path) -> str:
    path = path.resolve()
    return path.relative_to(root).as_posix() if root in path.parents else path.as_posix()


def _rel(text: str, root: Path) -> str:
    """Messages may name absolute paths inside the temporary copy: make them relative."""
    return text.replace(root.as_posix() + "/", "").replace(root.as_posix(), ".")


def _block(label: str, text: str) -> list[str]:
    first, *rest = text.splitlines() or [""]
    return [f"  {label}: {first}\n", *(f"    {line}\n" for line in rest)]


def _indented(lines, prefix: str) -> list[str]:
    out = []
    for line in lines:
        body = line.rstrip("\n").replace("\r", "\\r")
        out.append((prefix + body if body.strip() else prefix.rstrip()) + "\n")
        if not line.endswith("\n"):
            out.append(f"{prefix}\\ no newline at end of file\n")
    return out
