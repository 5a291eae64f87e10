"""Rendering findings: text, json (Ruff-shaped), sarif 2.1.0, github annotations, junit XML,
gitlab (Code Quality)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from durable_harden.analyzers.docs_links import index_url
from durable_harden.analyzers.findings import Finding, Severity
from durable_harden.analyzers.model import Problem, ProjectModel
from durable_harden.analyzers.rules import all_rules, rule_by_id
from durable_harden.analyzers.source import LineIndex
from durable_harden.codeactions import Fix, fixes_for
from durable_harden.server.ruledocs import page

TOOL_NAME = "durable-harden"
VERSION = "0.1.0"


class Positions:
    """1-based (row, column-in-characters) for findings, one line index per file."""

    def __init__(self, model: ProjectModel) -> None:
        self._data: dict[Path, bytes] = {f.path: f.data for f in model.files}
        self._data.update({c.path: c.data for c in model.configs})
        # each source file's own index, built when a finding there asks (not for every file)
        self._sources = model.files_by_path()
        self._indexes: dict[Path, LineIndex] = {}

    def index(self, path: Path) -> LineIndex:
        if path not in self._indexes:
            source = self._sources.get(path)
            if source is not None:
                self._indexes[path] = source.lines
                return source.lines
            data = self._data.get(path)
            if data is None:
                try:
                    data = path.read_bytes()
                except OSError:
                    data = b""
            self._indexes[path] = LineIndex(data)
        return self._indexes[path]

    def location(self, path: Path, offset: int) -> dict[str, int]:
        index = self.index(path)
        return {"row": index.row_of(offset) + 1, "column": index.char_column(offset) + 1}

    def line_text(self, path: Path, row: int) -> str:
        index = self.index(path)
        if row >= len(index.line_starts):
            return ""
        return index.line_bytes(row).decode("utf-8", errors="replace")


def display_path(path: Path, cwd: Path | None = None) -> str:
    cwd = cwd or Path.cwd()
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()


class _Shown:
    """display_path for one report: the working folder read once, each path shown once."""

    def __init__(self) -> None:
        self.cwd: Path | None = None
        self.shown: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        shown = self.shown.get(path)
        if shown is None:
            if self.cwd is None:
                self.cwd = Path.cwd()
            shown = self.shown[path] = display_path(path, self.cwd)
        return shown


def _fix_json(fix: Fix, positions: Positions) -> dict[str, Any]:
    return {
        "applicability": fix.safety.value,
        "message": fix.title,
        "edits": [
            {
                "filename": str(edit.path),
                "content": edit.new_text,
                "location": positions.location(edit.path, edit.start),
                "end_location": positions.location(edit.path, edit.end),
            }
            for edit in fix.edits
        ],
        "creates": [{"filename": str(c.path), "content": c.content} for c in fix.creates],
        "review": fix.review or None,
    }


def render_json(findings: list[Finding], model: ProjectModel, problems: list[Problem]) -> str:
    positions = Positions(model)
    items = []
    for finding in findings:
        fixes = fixes_for(finding, model)
        preferred = next((f for f in fixes if f.is_safe), fixes[0] if fixes else None)
        rule = rule_by_id(finding.rule_id)
        items.append(
            {
                "code": finding.rule_id,
                "message_id": finding.message_id or None,
                "message": finding.message,
                "severity": finding.severity.name.lower(),
                "filename": str(finding.path),
                "location": positions.location(finding.path, finding.span.start),
                "end_location": positions.location(finding.path, finding.span.end),
                "fix": _fix_json(preferred, positions) if preferred else None,
                "url": rule.url if rule else None,
                "related": [
                    {
                        "filename": str(r.span.path),
                        "location": positions.location(r.span.path, r.span.start),
                        "end_location": positions.location(r.span.path, r.span.end),
                        "message": r.message,
                    }
                    for r in finding.related
                ],
            }
        )
    return json.dumps(items, indent=2, ensure_ascii=False)


_SARIF_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "note",
    Severity.HINT: "note",
}


def render_sarif(findings: list[Finding], model: ProjectModel, problems: list[Problem]) -> str:
    positions = Positions(model)
    rules = list(all_rules())
    rule_index = {r.id: i for i, r in enumerate(rules)}
    root_uri = model.root.as_uri() + "/"

    def artifact(path: Path) -> dict[str, Any]:
        try:
            return {"uri": path.relative_to(model.root).as_posix(), "uriBaseId": "ROOT"}
        except ValueError:
            return {"uri": path.as_uri()}

    def region(path: Path, start: int, end: int) -> dict[str, int]:
        a, b = positions.location(path, start), positions.location(path, end)
        return {
            "startLine": a["row"],
            "startColumn": a["column"],
            "endLine": b["row"],
            "endColumn": b["column"],
        }

    results = []
    for finding in findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "level": _SARIF_LEVEL[finding.severity],
            # `id` names the rule's messageStrings entry (SARIF 3.11.10); the text is always there
            "message": {"text": finding.message, "id": finding.message_id}
            if finding.message_id
            else {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": artifact(finding.path),
                        "region": region(finding.path, finding.span.start, finding.span.end),
                    }
                }
            ],
        }
        if finding.rule_id in rule_index:
            result["ruleIndex"] = rule_index[finding.rule_id]
        if finding.related:
            result["relatedLocations"] = [
                {
                    "id": i,
                    "physicalLocation": {
                        "artifactLocation": artifact(r.span.path),
                        "region": region(r.span.path, r.span.start, r.span.end),
                    },
                    "message": {"text": r.message},
                }
                for i, r in enumerate(finding.related)
            ]
        results.append(result)
    notifications = [
        {
            "level": "warning",
            "message": {"text": problem.message},
            "locations": [{"physicalLocation": {"artifactLocation": artifact(problem.path)}}],
        }
        for problem in problems
    ]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": VERSION,
                        "informationUri": index_url(),
                        "rules": [
                            {
                                "id": r.id,
                                "name": "".join(part.capitalize() for part in r.id.split("-")),
                                "shortDescription": {"text": r.title},
                                "fullDescription": {"text": r.docs.what.strip()},
                                "help": {"text": r.docs.why.strip(), "markdown": page(r)},
                                "helpUri": r.url,
                                "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
                                **(
                                    {
                                        "messageStrings": {
                                            mid: {"text": text} for mid, text in r.messages.items()
                                        }
                                    }
                                    if r.messages
                                    else {}
                                ),
                            }
                            for r in rules
                        ],
                    }
                },
                "originalUriBaseIds": {"ROOT": {"uri": root_uri}},
                "invocations": [
                    {"executionSuccessful": True, "toolExecutionNotifications": notifications}
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(findings: list[Finding], model: ProjectModel, problems: list[Problem]) -> str:
    positions = Positions(model)
    lines = []
    level = {
        Severity.ERROR: "error",
        Severity.WARNING: "warning",
        Severity.INFO: "notice",
        Severity.HINT: "notice",
    }
    for f in findings:
        a, b = positions.location(f.path, f.span.start), positions.location(f.path, f.span.end)
        props = (
            f"file={_gh_escape(display_path(f.path), True)},line={a['row']},col={a['column']},"
            f"endLine={b['row']},endColumn={b['column']},title={_gh_escape(f.rule_id, True)}"
        )
        lines.append(f"::{level[f.severity]} {props}::{_gh_escape(f'{f.rule_id}: {f.message}')}")
    for p in problems:
        lines.append(
            f"::warning file={_gh_escape(display_path(p.path), True)}::{_gh_escape(p.message)}"
        )
    return "\n".join(lines)


def render_junit(findings: list[Finding], model: ProjectModel, problems: list[Problem]) -> str:
    """JUnit XML (as Ruff writes it): one <testsuite> per file, one failed <testcase> per
    finding; a run without findings is one passing test case, so CI shows the check ran."""
    from xml.etree import ElementTree as ET

    positions = Positions(model)
    root = ET.Element(
        "testsuites",
        name=TOOL_NAME,
        tests=str(max(1, len(findings))),
        failures=str(len(findings)),
        errors="0",
    )
    by_file: dict[Path, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.path, []).append(finding)
    if not by_file:
        suite = ET.SubElement(
            root, "testsuite", name=TOOL_NAME, tests="1", failures="0", errors="0", skipped="0"
        )
        ET.SubElement(suite, "testcase", name="No problems found", classname=TOOL_NAME)
    for path in sorted(by_file, key=str):
        shown = display_path(path)
        items = by_file[path]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=shown,
            tests=str(len(items)),
            failures=str(len(items)),
            errors="0",
            skipped="0",
        )
        for f in items:
            a = positions.location(f.path, f.span.start)
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{TOOL_NAME}.{f.rule_id}",
                classname=shown,
                file=shown,
                line=str(a["row"]),
            )
            failure = ET.SubElement(case, "failure", message=f.message, type=f.rule_id)
            failure.text = f"{shown}:{a['row']}:{a['column']}: {f.rule_id} {f.message}"
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body


_GITLAB_SEVERITY = {
    Severity.ERROR: "major",
    Severity.WARNING: "minor",
    Severity.INFO: "info",
    Severity.HINT: "info",
}


def render_gitlab(findings: list[Finding], model: ProjectModel, problems: list[Problem]) -> str:
    """GitLab Code Quality: a JSON array of issues (description, check_name, fingerprint,
    severity, location.path relative to the repository, location.lines.begin). The fingerprint
    hashes path, rule and the finding's text, not its line, so a finding keeps its identity when
    lines above it move (GitLab compares fingerprints between the base and the merge request)."""
    import hashlib

    positions = Positions(model)
    base = Path(os.environ.get("CI_PROJECT_DIR") or Path.cwd())
    issues = []
    counts: dict[str, int] = {}
    for f in findings:
        a = positions.location(f.path, f.span.start)
        b = positions.location(f.path, f.span.end)
        shown = display_path(f.path, base)
        snippet = (positions.index(f.path).data[f.span.start : f.span.end])[:200]
        key = f"{shown}\0{f.rule_id}\0{snippet.decode('utf-8', errors='replace')}"
        counts[key] = counts.get(key, 0) + 1
        digest = hashlib.sha256(f"{key}\0{counts[key]}".encode()).hexdigest()[:32]
        issues.append(
            {
                "description": f"{f.rule_id}: {f.message}",
                "check_name": f.rule_id,
                "fingerprint": digest,
                "severity": _GITLAB_SEVERITY[f.severity],
                "location": {
                    "path": shown,
                    "lines": {"begin": a["row"], "end": max(a["row"], b["row"])},
                },
            }
        )
    return json.dumps(issues, indent=2, ensure_ascii=False)


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text


def render_text(
    findings: list[Finding],
    model: ProjectModel,
    problems: list[Problem],
    color: bool = False,
    *,
    checked: tuple[int, int] | None = None,
    show_fixes: bool = False,
    quiet: bool = False,
) -> str:
    """Ruff-like text. checked: (files, projects) for the summary; show_fixes: list each
    finding's fixes under it; quiet: the findings only, no summary."""
    positions = Positions(model)
    style = Style(color)
    display_path = _Shown()
    out: list[str] = []
    sev_style = {
        Severity.ERROR: "1;31",
        Severity.WARNING: "1;33",
        Severity.INFO: "1;36",
        Severity.HINT: "2",
    }
    fixable = 0
    for f in findings:
        a = positions.location(f.path, f.span.start)
        b = positions.location(f.path, f.span.end)
        fixes = fixes_for(f, model)
        marker = ""
        if any(fix.is_safe for fix in fixes):
            fixable += 1
            marker = style(" [*]", "1;32")
        elif fixes:
            marker = style(" [unsafe fix]", "2")
        out.append(
            f"{style(display_path(f.path), '1')}:{a['row']}:{a['column']}: "
            f"{style(f.rule_id, sev_style[f.severity])}{marker} {f.message}"
        )
        line = positions.line_text(f.path, a["row"] - 1).replace("\t", " ")
        if line.strip():
            gutter = f"{a['row']:>5} | "
            out.append(style(gutter, "34") + line)
            width = (
                (b["column"] - a["column"]) if b["row"] == a["row"] else len(line) - a["column"] + 1
            )
            out.append(
                " " * (len(gutter) - 2)
                + style("| ", "34")
                + " " * (a["column"] - 1)
                + style("^" * max(1, width), sev_style[f.severity])
            )
        for related in f.related:
            r = positions.location(related.span.path, related.span.start)
            out.append(
                f"      = {related.message} ({display_path(related.span.path)}:{r['row']}:{r['column']})"
            )
        if show_fixes:
            for fix in fixes:
                out.append(f"      fix ({fix.safety.value}): {fix.title}")
        out.append("")
    if quiet:
        return "\n".join(out).rstrip("\n")
    for p in problems:
        out.append(f"{style('warning', '1;33')}: {display_path(p.path)}: {p.message}")
    if checked is not None:
        files, projects = checked
        out.append(
            f"Checked {files} file{'s' if files != 1 else ''} in {projects} "
            f"project{'s' if projects != 1 else ''}."
        )
    if findings:
        count = len(findings)
        summary = f"Found {count} problem{'s' if count != 1 else ''}."
        if fixable:
            summary += f"\n[*] {fixable} fixable with `durable-harden check --fix`."
        out.append(summary)
    elif problems:
        out.append(
            f"No problems found in what was checked, but {len(problems)} "
            f"file{'s' if len(problems) != 1 else ''} could not be checked (see above)."
        )
    elif checked is not None and checked[0] == 0:
        out.append(
            style("warning", "1;33")
            + ": no files were checked (no TypeScript/JavaScript sources or wrangler configs"
            " under the given paths; see `durable-harden check --show-files`)"
        )
    else:
        out.append(style("All checks passed!", "1;32"))
    return "\n".join(out)


RENDERERS: dict[str, Callable[[list[Finding], ProjectModel, list[Problem]], str]] = {
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
    "junit": render_junit,
    "gitlab": render_gitlab,
}


def render_statistics(findings: list[Finding], model: ProjectModel, as_json: bool) -> str:
    """Counts per rule, most frequent first (Ruff's `--statistics`): count, rule, `[*]` when
    every finding of the rule has a safe fix, title."""
    counts: dict[str, int] = {}
    fixable: dict[str, bool] = {}
    for f in findings:
        counts[f.rule_id] = counts.get(f.rule_id, 0) + 1
        safe = any(fix.is_safe for fix in fixes_for(f, model))
        fixable[f.rule_id] = fixable.get(f.rule_id, True) and safe
    order = sorted(counts, key=lambda r: (-counts[r], r))
    rows = []
    for rule_id in order:
        rule = rule_by_id(rule_id)
        rows.append(
            {
                "code": rule_id,
                "name": rule.title if rule else rule_id,
                "count": counts[rule_id],
                "fixable": fixable[rule_id],
            }
        )
    if as_json:
        return json.dumps(rows, indent=2, ensure_ascii=False)
    if not rows:
        return ""
    width = max(len(str(r["count"])) for r in rows)
    code_width = max(len(str(r["code"])) for r in rows)
    return "\n".join(
        f"{r['count']:>{width}}\t{r['code']:<{code_width}}\t{'[*]' if r['fixable'] else '   '} "
        f"{r['name']}"
        for r in rows
    )


def use_color(stream: Any) -> bool:
    """NO_COLOR (https://no-color.org) set to anything: off. FORCE_COLOR (Node's convention):
    `0` or `false` off, any other value on. Otherwise on for a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force.strip().lower() not in ("0", "false")
    return bool(getattr(stream, "isatty", lambda: False)())
