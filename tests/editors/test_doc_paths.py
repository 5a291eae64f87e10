"""Every file a document cites exists in the repository: the docs under docs/ (rule pages
included, which ship inside the package), the README and the editors' READMEs.

A citation is a relative markdown link, a path whose first part is one of the repository's
top-level folders or files (`server/lsp.py`, `editors/neovim/lsp/durable-harden.lua`,
`pyproject.toml`), or an upper-case document name (`DESIGN.md`): a page that names a file the
reader cannot open (such as the project-internal notes kept outside the repository) fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [
        *(ROOT / "docs").rglob("*.md"),
        ROOT / "README.md",
        ROOT / "editors" / "vscode" / "README.md",
    ]
)
TOP = [
    *sorted(p.name for p in ROOT.iterdir() if not p.name.startswith(".git") and p.name != "build"),
    ".ci",
]
# paths of the user's project that the tool writes or reads there, not files of this repository
USER_PROJECT_FILES = {"scripts/deploy-gradual.sh"}
# the example rule name docs/contributing.md walks through (files `scripts/add_rule.py` creates)
PLACEHOLDERS = ("my-rule", "my_rule")

CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATHLIKE = re.compile(
    r"(?:^|(?<=[\s(\"']))((?:" + "|".join(map(re.escape, TOP)) + r")(?:/[\w./*<>{}$-]*)?)"
)
SHOUTY = re.compile(r"\b([A-Z][A-Z0-9_-]+\.md)\b")


def cited(doc: Path) -> list[tuple[int, str, Path]]:
    """(line, text, path it names) for every file citation of a document."""
    out: list[tuple[int, str, Path]] = []
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:|^#", target):
                continue
            out.append((number, target, (doc.parent / target.split("#")[0]).resolve()))
        texts = [*CODE.findall(line), line]
        for text in texts:
            for token in PATHLIKE.findall(text):
                token = token.rstrip(".,:;)")
                if (
                    any(c in token for c in "<>*{}$")
                    or token in USER_PROJECT_FILES
                    or any(p in token for p in PLACEHOLDERS)
                ):
                    continue
                # from the repository's root, or from the document's folder (editors/vscode/)
                here = doc.parent / token
                out.append((number, token, here if here.exists() else ROOT / token))
            for name in SHOUTY.findall(text):
                here = doc.parent / name
                out.append((number, name, here if here.exists() else ROOT / name))
    return out


def exists(path: Path) -> bool:
    if path.exists():
        return True
    # `server/writer.write_atomic`, `server/lsp_engine.Engine.disk`: a name inside a module
    stem = path.name.split(".", 1)[0]
    return "." in path.name and (path.parent / f"{stem}.py").is_file()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_files_exist(doc: Path):
    missing = [
        f"{doc.relative_to(ROOT)}:{n}: {text}" for n, text, path in cited(doc) if not exists(path)
    ]
    assert not missing, "cited but not in the repository:\n" + "\n".join(missing)


def test_the_scanner_finds_citations():
    """The scanner sees the kinds of citation it is meant to check (so an empty result above
    means the files exist, not that nothing was looked at)."""
    editors = {text for _, text, _ in cited(ROOT / "docs" / "editors.md")}
    assert "editors/neovim/lsp/durable-harden.lua" in editors
    assert any(t.startswith("server/") for t in editors)
    readme = {text for _, text, _ in cited(ROOT / "README.md")}
    assert "docs/editors.md" in readme
    rules = {text for _, text, _ in cited(ROOT / "docs" / "rules" / "README.md")}
    assert "class-not-exported.md" in rules
