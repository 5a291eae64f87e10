"""Where a rule's documentation page is, for links in diagnostics (LSP `codeDescription.href`)
and reports (SARIF `helpUri`, `informationUri`).

The pages of docs/rules/ ship inside the package (`durable_harden/docs/rules/*.md`, package-data
in pyproject.toml), so by default a link is the `file://` URI of the page installed with this
very version: it exists, offline, and describes the rules this server runs. Setting
`DURABLE_HARDEN_DOCS_BASE_URL` (VS Code: `durableHarden.docsBaseUrl`) links to
`<base>/<rule>.md` instead, e.g. a docs site or a repository folder the team hosts.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_URL_ENV = "DURABLE_HARDEN_DOCS_BASE_URL"
INDEX = "README.md"


def docs_dir() -> Path:
    """docs/rules of this installation: next to analyzers/ in a checkout and in the wheel."""
    return Path(__file__).resolve().parent.parent / "docs" / "rules"


def page_url(name: str, base: str | None = None) -> str:
    base = (os.environ.get(BASE_URL_ENV, "") if base is None else base).strip()
    if base:
        return f"{base.rstrip('/')}/{name}"
    return (docs_dir() / name).as_uri()


def rule_doc_url(rule_id: str, base: str | None = None) -> str:
    """The page of one rule (`<rule>.md`)."""
    return page_url(f"{rule_id}.md", base)


def index_url(base: str | None = None) -> str:
    """The rule index (docs/rules/README.md): the tool's own information page."""
    return page_url(INDEX, base)
