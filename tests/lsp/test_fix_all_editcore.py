"""The editor's fix-all goes through the same edit core as `check --fix`
(`codeactions/editcore.select_fixes`): the same priority order, conflict detection, guard and
unsafe setting. On a file whose two fixes conflict (the TTL cleanup of a growing table and a
timer moved to `alarm()` both write the class's `alarm()`), the first fix-all applies what the
planner's first round applies, and fix-all repeated until it offers nothing leaves the file as
`check --fix` writes it.

The timer comes before the INSERT in the file: ordered by position (the server's old loop) the
timer's fix would win the first round; ordered by priority tier (the planner) the TTL cleanup
wins, and the timer's fix is rebuilt on the edited file and merged into the new `alarm()`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from durable_harden.codeactions.harden.plan import plan_workspace
from tests.lsp.conftest import (
    WRANGLER,
    apply_text_edits,
    diagnostics,
    edits_for,
    encoding_of,
    open_doc,
    replace_all,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = """import { DurableObject } from "cloudflare:workers";

export class Ticker extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT, created_at INTEGER)",
    );
  }

  async fetch(request: Request): Promise<Response> {
    setTimeout(() => this.flush(), 1000);
    this.ctx.storage.sql.exec("INSERT INTO events (body, created_at) VALUES (?, ?)", "x", Date.now());
    return new Response("ok");
  }

  flush() {}
}
"""


def _project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(WRANGLER)
    # both fixes are unsafe: the project's settings ask for them, for the editor and the CLI
    (root / "durable-harden.jsonc").write_text('{ "unsafeFixes": true }\n')
    (root / "src" / "ticker.ts").write_text(SOURCE)
    return root


async def _fix_all(client: LanguageClient, uri: str) -> list[lsp.CodeAction]:
    result = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
            context=lsp.CodeActionContext(diagnostics=[], only=["source.fixAll"]),
        )
    )
    return [a for a in result or [] if isinstance(a, lsp.CodeAction)]


async def test_fix_all_applies_what_check_fix_applies(client: LanguageClient, tmp_path: Path):
    project = _project(tmp_path / "editor" / "ticker")
    cli_copy = tmp_path / "cli" / "ticker"
    shutil.copytree(project, cli_copy)
    proc = subprocess.run(
        [sys.executable, "-m", "durable_harden", "check", "--fix", "--exit-zero", str(cli_copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    by_check_fix = (cli_copy / "src" / "ticker.ts").read_text()
    assert "setTimeout" not in by_check_fix and "cleanupExpiredEvents" in by_check_fix
    first_round = plan_workspace([project], unsafe=True, max_rounds=1)
    source = (project / "src" / "ticker.ts").resolve()
    planned_first = first_round.contents[source].decode()
    assert [a.rule_id for a in first_round.applied] == ["unbounded-table-growth"]
    assert [lo.finding.rule_id for lo in first_round.leftovers] == ["timer-blocks-hibernation"]

    path = project / "src" / "ticker.ts"
    uri = open_doc(client, path, SOURCE)
    diags = await diagnostics(client, uri, 1)
    assert {"timer-blocks-hibernation", "unbounded-table-growth"} <= {str(d.code) for d in diags}
    encoding = encoding_of(client)
    text, version, rounds = SOURCE, 1, []
    while True:
        actions = await _fix_all(client, uri)
        if not actions:
            break
        assert [a.kind for a in actions] == ["source.fixAll.durable-harden"]
        assert actions[0].edit is not None
        text = apply_text_edits(text, edits_for(actions[0].edit, uri), encoding)
        rounds.append(text)
        version += 1
        replace_all(client, uri, version, text)
        await diagnostics(client, uri, version)
        assert len(rounds) < 6, "fix-all does not settle"
    # the first fix-all is the planner's first round: the TTL cleanup, the timer waits
    assert rounds[0] == planned_first
    assert "setTimeout" in rounds[0]
    # and fix-all until nothing is left gives what check --fix writes
    assert len(rounds) >= 2
    assert text == by_check_fix
