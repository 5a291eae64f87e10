"""What "Harden all Durable Objects" produces besides the fixes themselves.

Each only for patterns that were actually applied:
- `test/durable-harden/<class>.test.ts` per hardened class, in vitest with `cloudflare:test`
  (`runInDurableObject`, `runDurableObjectAlarm`), checking the pattern in workerd;
- a minimal vitest set-up when the project has none: `vitest.config.ts` with
  `cloudflareTest({ wrangler: { configPath } })` from `@cloudflare/vitest-pool-workers`, and the
  devDependencies (+ a `test` script) added to `package.json`, edited in place so the file's own
  formatting stays;
- a "Production patterns" section in the project's README (created if absent);
- the report (`report.py`).

The generated test cases are in `generated_tests.py`, the pattern labels in `labels.py`.

Pure: reads through the `read` callable it is given (the plan's view of the workspace).
Generated text depends only on the input, never on time, so runs are byte-identical.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from durable_harden.analyzers import safejson
from durable_harden.analyzers.generated_names import README_END, README_START
from durable_harden.codeactions import spec_for
from durable_harden.codeactions._jsonedit import json_add_entries
from durable_harden.codeactions._style import Style
from durable_harden.codeactions.harden.generated_tests import (
    TestCase,
    TestContext,
    _add_cases,
    render_tests,
)
from durable_harden.codeactions.harden.labels import kebab, pattern_label, rel

if TYPE_CHECKING:
    from durable_harden.analyzers.classes import DurableObjectClass
    from durable_harden.analyzers.model import ProjectModel
    from durable_harden.analyzers.wrangler import WranglerConfig
    from durable_harden.codeactions.harden.plan import AppliedFix, HardenPlan

Reader = Callable[[Path], "bytes | None"]

TEST_DIR = Path("test") / "durable-harden"

# The set known to work together on Node 20 (see docs/harden.md); exact pins like the examples.
VITEST_DEV_DEPENDENCIES = {
    "@cloudflare/vitest-pool-workers": "0.15.1",
    "vitest": "4.1.12",
}
VITEST_CONFIG_NAMES = (
    *tuple(
        f"{stem}.config.{ext}"
        for stem in ("vitest", "vite")
        for ext in ("ts", "mts", "cts", "js", "mjs", "cjs")
    ),
    "vitest.workspace.ts",
    "vitest.workspace.js",
)


# -- what gets produced -------------------------------------------------------------------------
@dataclass
class ProjectOutputs:
    root: Path
    config: WranglerConfig | None
    classes: dict[str, list[AppliedFix]] = field(default_factory=dict)


def _project_of(
    plan: HardenPlan, model: ProjectModel, applied: AppliedFix
) -> tuple[Path, WranglerConfig | None, DurableObjectClass | None]:
    cls = None
    if applied.class_name:
        matches = model.classes_named(applied.class_name)
        cls = matches[0] if matches else None
    if cls is not None:
        config = model.config_for_class(cls)
    else:
        named = applied.finding.data.get("config")
        config = next((c for c in model.configs if str(c.path) == named), None)
        config = config or model.config_for_path(applied.finding.span.path)
    root = config.root if config is not None else plan.root
    return root, config, cls


# The patterns whose fix is only shown to work by running it in workerd (rows deleted by the alarm,
# a timer's work done by alarm(), sockets that survive hibernation). Scaffolding (tests, vitest
# set-up, devDependencies, README section) is written only for a project with one of them (or
# with generated tests already); then the tests cover every applied pattern that has a test case
# (an index's query plan too). `harden --no-tests` writes none.
NEEDS_RUNTIME_TEST = frozenset(
    {"unbounded-table-growth", "timer-blocks-hibernation", "websocket-not-hibernatable"}
)


def add_outputs(plan: HardenPlan, model: ProjectModel, read: Reader) -> None:
    """Add the generated tests, vitest set-up and README section to the plan's contents."""
    projects: dict[Path, ProjectOutputs] = {}
    for applied in plan.applied:
        root, config, _ = _project_of(plan, model, applied)
        project = projects.setdefault(root, ProjectOutputs(root, config))
        project.classes.setdefault(applied.class_name or "", []).append(applied)

    def put(path: Path, data: bytes, why: str) -> None:
        before = read(path)
        if before == data:
            return
        if path not in plan.original:
            plan.original[path] = before
        plan.contents[path] = data
        plan.generated[path] = why

    for root in sorted(projects, key=str):
        project = projects[root]
        rules = {a.rule_id for fixes in project.classes.values() for a in fixes}
        # a project that already has generated tests keeps getting them for new patterns
        if not rules & NEEDS_RUNTIME_TEST and not (root / TEST_DIR).is_dir():
            plan.notes.append(
                f"{rel(plan.root, root) or '.'}: no tests, vitest set-up or README section "
                "generated: the fixes applied need no runtime test"
            )
            continue
        wrote_tests = _tests_for(plan, model, project, read, put)
        if wrote_tests:
            _vitest_setup(plan, project, read, put)
        _readme(plan, project, read, put)


def _tests_for(
    plan: HardenPlan,
    model: ProjectModel,
    project: ProjectOutputs,
    read: Reader,
    put: Callable[[Path, bytes, str], None],
) -> bool:
    wrote = False
    for class_name in sorted(n for n in project.classes if n):
        applied = project.classes[class_name]
        matches = model.classes_named(class_name)
        cls = matches[0] if matches else None
        config = project.config
        binding = next(
            (b.name for b in (config.bindings if config else []) if b.class_name == class_name),
            None,
        )
        if binding is None:
            plan.notes.append(f"{class_name}: no test generated (no Durable Object binding found)")
            continue
        ctx = TestContext(cls, class_name, binding, model, applied)
        cases: list[TestCase] = []
        seen: set[str] = set()
        for fix in sorted(applied, key=lambda a: (a.tier, a.rule_id)):
            spec = spec_for(fix.rule_id)
            make = spec.test_case if spec is not None else None
            if make is None or fix.rule_id in seen:
                continue
            case = make(ctx, fix)
            if case is None:
                plan.notes.append(
                    f"{class_name}: no test generated for {pattern_label(fix.rule_id)}"
                    " (not enough is known about it to check it)"
                )
                continue
            seen.add(fix.rule_id)
            cases.append(case)
        if not cases:
            continue
        style = Style.of(cls.file.data if cls is not None else None)
        path = project.root / TEST_DIR / f"{kebab(class_name)}.test.ts"
        existing = read(path)
        if existing is None:
            text = style.apply(render_tests(class_name, binding, cases))
        else:
            old = existing.decode("utf-8", "replace")
            text = _add_cases(old, cases, style)
        put(path, text.encode("utf-8"), f"tests for {class_name}")
        for case in cases:
            plan.notes.append(f"{class_name}: test “{case.title}” checks {case.checks}")
        wrote = True
    return wrote


def _vitest_setup(
    plan: HardenPlan,
    project: ProjectOutputs,
    read: Reader,
    put: Callable[[Path, bytes, str], None],
) -> None:
    root = project.root
    if any(read(root / name) is not None for name in VITEST_CONFIG_NAMES):
        return
    config_name = project.config.path.name if project.config is not None else "wrangler.jsonc"
    config = f"""// Generated by `durable-harden harden`: runs the tests inside workerd, Cloudflare's runtime.
import {{ cloudflareTest }} from "@cloudflare/vitest-pool-workers";
import {{ defineConfig }} from "vitest/config";

export default defineConfig({{
  plugins: [cloudflareTest({{ wrangler: {{ configPath: "./{config_name}" }} }})],
}});
"""
    put(root / "vitest.config.ts", config.encode(), "vitest set-up (none was present)")
    plan.notes.append(
        f"{rel(plan.root, root / 'vitest.config.ts')}: minimal vitest set-up added "
        "(the project had none)"
    )
    package = root / "package.json"
    data = read(package)
    if data is None:
        body = {
            "private": True,
            "type": "module",
            "scripts": {"test": "vitest run"},
            "devDependencies": VITEST_DEV_DEPENDENCIES,
        }
        put(package, (json.dumps(body, indent=2) + "\n").encode(), "package.json for vitest")
        plan.notes.append(f"{rel(plan.root, package)}: created with the vitest devDependencies")
        return
    try:
        updated = json_add_entries(data, "devDependencies", VITEST_DEV_DEPENDENCIES)
        scripts = safejson.loads(updated).get("scripts")
        if not isinstance(scripts, dict) or "test" not in scripts:
            updated = json_add_entries(updated, "scripts", {"test": "vitest run"})
    except ValueError as exc:
        plan.notes.append(f"{rel(plan.root, package)}: not edited ({exc}); add vitest by hand")
        return
    if updated != data:
        put(package, updated, "vitest devDependencies")
        added = ", ".join(f"{k}@{v}" for k, v in VITEST_DEV_DEPENDENCIES.items())
        plan.notes.append(f"{rel(plan.root, package)}: devDependencies {added} added")


_CONSTANT = re.compile(r"\bconst\s+([A-Z][A-Z0-9_]*(?:TTL|RETENTION|EXPIR)[A-Z0-9_]*)\s*=")


def _constants(applied: AppliedFix) -> list[str]:
    texts = [e.new_text for e in applied.fix.edits] + [c.content for c in applied.fix.creates]
    return sorted({m.group(1) for t in texts for m in _CONSTANT.finditer(t)})


def _readme_lines(plan: HardenPlan, project: ProjectOutputs) -> list[str]:
    lines: list[str] = []
    for class_name in sorted(project.classes, key=lambda n: (n == "", n)):
        heading = f"### {class_name}" if class_name else "### Project configuration"
        lines.append(heading)
        lines.append("")
        for applied in sorted(project.classes[class_name], key=_applied_order):
            where = rel(project.root, applied.finding.span.path)
            label = pattern_label(applied.rule_id, applied.fix.title)
            line = f"- **{label}** (`{applied.rule_id}`, {applied.priority}) in `{where}`: "
            line += applied.fix.title.rstrip(".") + "."
            constants = _constants(applied)
            if constants:
                line += " Configure: " + ", ".join(f"`{c}`" for c in constants) + "."
            if applied.fix.review:
                line += " Review: " + " ".join(applied.fix.review.split())
            lines.append(line)
        lines.append("")
    return lines


def _applied_order(a: AppliedFix) -> tuple[int, str, int, str]:
    return (a.tier, str(a.finding.span.path), a.finding.span.start, a.rule_id)


def _readme(
    plan: HardenPlan,
    project: ProjectOutputs,
    read: Reader,
    put: Callable[[Path, bytes, str], None],
) -> None:
    path = next(
        (
            project.root / n
            for n in ("README.md", "readme.md", "Readme.md")
            if read(project.root / n)
        ),
        project.root / "README.md",
    )
    data = read(path)
    entries = _readme_lines(plan, project)
    intro = [
        README_START,
        "## Production patterns",
        "",
        "Applied by `durable-harden harden`; each entry says what to configure and what to review.",
        "Verify with `npx tsc --noEmit` and `npx vitest run` (tests in `test/durable-harden/`).",
        "",
    ]
    if data is None:
        name = project.config.name if project.config is not None and project.config.name else ""
        title = f"# {name or project.root.name}\n\n"
        text = title + "\n".join([*intro, *entries, README_END]) + "\n"
        put(path, text.encode(), "README with a Production patterns section")
        return
    text = data.decode("utf-8", "replace")
    if README_START in text and README_END in text:
        start = text.index(README_START)
        end = text.index(README_END)
        section = text[start:end]
        fresh = [line for line in entries if line.startswith("- ") and line not in section]
        if not fresh:
            return
        merged = section.rstrip("\n") + "\n" + _merge_entries(section, entries) + "\n"
        text = text[:start] + merged + text[end:]
    else:
        sep = "" if text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        text = text + sep + "\n".join([*intro, *entries, README_END]) + "\n"
    put(path, text.encode(), "README: Production patterns section")


def _merge_entries(section: str, entries: list[str]) -> str:
    out: list[str] = []
    heading = ""
    for line in entries:
        if line.startswith("### "):
            heading = line
            continue
        if line.startswith("- ") and line not in section:
            if heading and heading not in section and heading not in out:
                out += ["", heading, ""]
            out.append(line)
    return "\n".join(out)
