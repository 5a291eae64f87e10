"""Opening files of a crafted repository in the editor runs nothing: the real language server
over stdio analyses a partial clone whose remote names a marker-writing script as its
uploadpack; the diagnostics arrive (the analysis ran, the rules asked for the committed config)
and the script never ran."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from tests.lsp.conftest import SERVER, diagnostics, open_doc, start
from tests.security.test_no_programs import _crafted

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git builds the repository"),
]

CRAFTED: dict[str, tuple[Path, Path]] = {}


@pytest_lsp.fixture(config=SERVER, scope="module")
async def editor(lsp_client: LanguageClient, tmp_path_factory: pytest.TempPathFactory):
    clone, marker = _crafted(tmp_path_factory.mktemp("crafted"), "uploadpack")
    CRAFTED["repo"] = (clone, marker)
    lsp_client.profile = "visual-studio-code"  # type: ignore[attr-defined]
    await start(lsp_client, "visual-studio-code", clone, {"debounceMs": 20})
    yield
    await lsp_client.shutdown_session()


async def test_opening_files_of_a_crafted_clone_runs_nothing(editor: LanguageClient) -> None:
    clone, marker = CRAFTED["repo"]
    found = []
    for path in (clone / "wrangler.jsonc", *sorted(clone.glob("src/*.ts"))):
        uri = open_doc(editor, path)
        found += await diagnostics(editor, uri, 1, timeout=30.0)
    assert any(d.code == "rollout-unsafe" for d in found)  # the rule that reads HEAD ran
    assert not marker.exists()
