"""docs/rules/: one page per rule plus an index, generated from the rule registry.

python -m server.ruledocs          # rewrite docs/rules/
python -m server.ruledocs --check  # exit 1 when the pages are out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from durable_harden.analyzers.rules import all_rules
from durable_harden.codeactions import builders

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs" / "rules"


def render_all() -> dict[str, str]:
    pages: dict[str, str] = {}
    fixable = builders()
    rows = ["| rule | severity | fix | title |", "|---|---|---|---|"]
    for rule in all_rules():
        pages[f"{rule.id}.md"] = rule.markdown()
        rows.append(
            f"| [`{rule.id}`]({rule.id}.md) | {rule.severity.name.lower()} | "
            f"{'yes' if rule.id in fixable else ''} | {rule.title} |"
        )
    pages["README.md"] = (
        "# Rules\n\nGenerated from the rule modules in `analyzers/rules/` by "
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
