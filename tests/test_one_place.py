"""Blocks that issue 11 found duplicated live in one place each (a guard against their return):

- the file style (indentation, quote, line ending): `codeactions/_style.py` (`Style`);
- the reader of `export { … }` clauses: `analyzers/exports.py`;
- the LSP `WorkspaceEdit`: `server/lsp/convert.py` (`EditBuilder`), for quick fixes, fix-all
  and "harden all";
- the expression that reaches a class's DurableObjectState: `analyzers/classes.py`
  (`state_path`, `ctx_expression`; `codeactions/_migrations.ctx_expr` is its strict form);
- the loop that takes findings' fixes into a batch: `codeactions/editcore.py` (`Batch.offer`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    path for top in ("analyzers", "codeactions", "server") for path in (ROOT / top).rglob("*.py")
)

ONE_PLACE = [
    # what, pattern, the only module allowed to contain it
    ("line-ending detection", r'b"\\r\\n" in |count\(b"\\r\\n"\)', "codeactions/_style.py"),
    ("quote detection", r"count\(b\"'\"\)", "codeactions/_style.py"),
    ("export clause reader", r'"export_clause"', "analyzers/exports.py"),
    ("WorkspaceEdit construction", r"lsp\.WorkspaceEdit\(", "server/lsp/convert.py"),
    # the first `this.…` alias of the state (`sorted(cls.aliases.ctx) if a.startswith("this.")`)
    ("ctx expression", r'ctx\)? if \w+\.startswith\("this\."\)', "analyzers/classes.py"),
    ("batch offer loop", r"\.same_as\(", "codeactions/editcore.py"),
]


@pytest.mark.parametrize(("what", "pattern", "home"), ONE_PLACE, ids=[p[0] for p in ONE_PLACE])
def test_in_one_place(what: str, pattern: str, home: str) -> None:
    regex = re.compile(pattern)
    where = sorted(
        str(path.relative_to(ROOT))
        for path in SOURCES
        if any(regex.search(line) for line in path.read_text(encoding="utf-8").splitlines())
    )
    assert where == [home], f"{what}: {where}"
