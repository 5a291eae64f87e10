"""docs/rules/: one page per rule plus an index, generated from the rule registry.

python -m server.ruledocs          # rewrite docs/rules/
python -m server.ruledocs --check  # exit 1 when the pages are out of date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from durable_harden.analyzers.findings import Rule
from durable_harden.analyzers.rules import all_rules
from durable_harden.codeactions import FixSpec, builders, spec_for
from durable_harden.codeactions.spec import TIER_NAMES

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs" / "rules"
REPO = DOCS_DIR.parent.parent


def source_path(module: str) -> str:
    """`analyzers/rules/x.py` for module `durable_harden.analyzers.rules.x` (the design card's
    folders, as in the repository)."""
    parts = module.split(".")
    if parts[0] == "durable_harden":
        parts = parts[1:]
    return "/".join(parts) + ".py"


def relative_link(path: str) -> str:
    """A link from docs/rules/ to a source file of the repository."""
    return f"../../{path}"


def file_link(path: str) -> str:
    """A `file://` link to the installed source file (for hover: it opens in the editor)."""
    return (REPO / path).resolve().as_uri()


def page(rule: Rule, link: Callable[[str], str] | None = None) -> str:
    """The rule's whole docs page: detection (the rule module's `RuleDocs`), the fixes and their
    safety (the fix module's `FixSpec.docs`, or the rule's `no_fix`), its message ids, the
    references of both halves, harden behaviour, and both source files by path (linked with
    `link`, or as plain paths)."""
    spec = spec_for(rule.id)
    parts = [rule.docs.markdown(rule.id, rule.title, rule.severity)]
    if spec is not None:
        levels = " or ".join(s.value for s in sorted(spec.safeties, key=lambda s: s.value))
        fix = f"Fixes are {levels}.\n\n{spec.docs.markdown()}"
    else:
        fix = f"No automatic fix. {rule.docs.no_fix.strip()}\n"
    parts.append(f"## Fix and its safety\n{fix}")
    if rule.messages:
        rows = "\n".join(f"- `{rule.id}/{mid}`: {text}" for mid, text in rule.messages.items())
        parts.append(f"## Messages\n{rows}\n")
    refs: dict[str, str] = {}  # by URL: a fix's source the rule already cites is listed once
    for ref in [*rule.docs.references, *(spec.docs.references if spec is not None else ())]:
        refs.setdefault(ref.split()[0] if ref.strip() else ref, ref)
    parts.append("## References\n" + "".join(f"- {ref}\n" for ref in refs.values()))
    return "\n".join(parts) + _record(rule, spec, link)


def _source(path: str, link: Callable[[str], str] | None) -> str:
    return f"[`{path}`]({link(path)})" if link is not None else f"`{path}`"


def _record(rule: Rule, spec: FixSpec | None, link: Callable[[str], str] | None) -> str:
    """The rule record's other half: harden behaviour and where the code lives."""
    lines = ["", "## In harden"]
    if spec is None:
        lines.append("No automatic fix: harden lists the finding for review.")
    else:
        tier = TIER_NAMES[spec.tier] if spec.tier is not None else "by severity"
        lines.append(f"- priority tier: {tier}")
        if spec.label:
            lines.append(f"- pattern: {spec.label}")
        lines.append(f"- generated test: {'yes' if spec.test_case is not None else 'no'}")
    lines += [
        "",
        "## Source",
        f"- detection and its docs: {_source(source_path(rule.check.__module__), link)}",
    ]
    if spec is not None:
        lines.append(
            f"- fixes and their safety: {_source(source_path(spec.build.__module__), link)}"
        )
    return "\n".join(lines) + "\n"


def render_all() -> dict[str, str]:
    pages: dict[str, str] = {}
    fixable = builders()
    rows = ["| rule | severity | fix | title |", "|---|---|---|---|"]
    for rule in all_rules():
        pages[f"{rule.id}.md"] = page(rule, relative_link)
        rows.append(
            f"| [`{rule.id}`]({rule.id}.md) | {rule.severity.name.lower()} | "
            f"{'yes' if rule.id in fixable else ''} | {rule.title} |"
        )
    pages["README.md"] = (
        "# Rules\n\nGenerated from the rule modules in `analyzers/rules/` and `codeactions/` by "
        "`python -m server.ruledocs`; do not edit by hand.\n\n" + "\n".join(rows) + "\n"
    )
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.ruledocs")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    pages = render_all()
    stale = [
        name
        for name, text in pages.items()
        if not (DOCS_DIR / name).exists() or (DOCS_DIR / name).read_text(encoding="utf-8") != text
    ]
    extra = (
        sorted(p.name for p in DOCS_DIR.glob("*.md") if p.name not in pages)
        if DOCS_DIR.exists()
        else []
    )
    if args.check:
        for name in stale + extra:
            print(f"docs/rules/{name} is out of date; run `python -m server.ruledocs`")
        return 1 if stale or extra else 0
    DOCS_DIR.mkdir(parents=True, exist_ok=True)
    for name in extra:
        (DOCS_DIR / name).unlink()
    for name, text in pages.items():
        (DOCS_DIR / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
