"""scripts/ecosystem.py on a tiny corpus written here (the real corpus is not needed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "ecosystem_script", REPO / "scripts" / "ecosystem.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ecosystem_script"] = module
    spec.loader.exec_module(module)
    return module


eco = _load()

TICKER = """import { DurableObject } from "cloudflare:workers";
export class Ticker extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    setInterval(() => this.tick(), 1_000);
  }
  tick(): void {}
}
"""
CONFIG = """{
  "name": "ticker",
  "main": "src/index.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "T", "class_name": "Ticker" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Ticker"] }]
}
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    project = root / "someone__ticker"
    (project / "src").mkdir(parents=True)
    (project / "src" / "index.ts").write_text(TICKER)
    (project / "wrangler.jsonc").write_text(CONFIG)
    (root / "MANIFEST.tsv").write_text(
        "repo\tcommit\tlicence\tproject_folder\tfiles\tts_lines\tdo_classes\tfeatures\n"
        "someone/ticker\t0\tMIT\t.\t1\t8\tTicker,Ghost\tset_interval\n"
    )
    return root


def _triage(path: Path, rows: list[tuple[str, ...]]) -> Path:
    path.write_text(
        "\t".join(eco.TRIAGE_HEADER) + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    )
    return path


TIMER_ROW = (
    "timer-blocks-hibernation",
    "someone__ticker/src/index.ts",
    "5",
    "setInterval(() => this.tick(), 1_000);",
)
GHOST_ROW = ("missing-class", "someone__ticker", "0", "Ghost", "correct", "listed by mistake")


def _run(corpus: Path, triage: Path, capsys, *extra: str) -> tuple[int, str]:
    code = eco.main(["--corpus", str(corpus), "--triage", str(triage), "--jobs", "1", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_untriaged_findings_and_missing_classes_fail(corpus: Path, tmp_path: Path, capsys) -> None:
    code, out = _run(corpus, tmp_path / "none.tsv", capsys, "--consistency", "off")
    assert code == 1
    assert (
        "== untriaged: 1" in out
        and "timer-blocks-hibernation someone__ticker/src/index.ts:5" in out
    )
    assert "someone__ticker: Ghost" in out  # Ticker is found, Ghost is not
    assert "someone__ticker: Ticker" not in out


def test_everything_triaged_passes_and_reports_precision(
    corpus: Path, tmp_path: Path, capsys
) -> None:
    triage = _triage(
        tmp_path / "t.tsv", [(*TIMER_ROW, "correct", "interval from the constructor"), GHOST_ROW]
    )
    code, out = _run(corpus, triage, capsys)
    assert code == 0, out
    assert "precision: 100.0% (correct 1, wrong 0, debatable 0)" in out
    assert "(explained) someone__ticker: Ghost: listed by mistake" in out
    # started from the repository folder, check finds the same
    assert "results that depend on the starting folder: 0" in out


def test_a_finding_triaged_wrong_that_is_still_reported_fails(
    corpus: Path, tmp_path: Path, capsys
) -> None:
    triage = _triage(tmp_path / "t.tsv", [(*TIMER_ROW, "wrong", "say it was"), GHOST_ROW])
    code, out = _run(corpus, triage, capsys, "--consistency", "off")
    assert code == 1
    assert "still reported although triaged wrong: 1" in out
    assert "precision:   0.0%" in out


def test_a_correct_finding_that_disappears_fails(corpus: Path, tmp_path: Path, capsys) -> None:
    gone = ("unbounded-table-growth", "someone__ticker/src/index.ts", "3", "x", "correct", "r")
    triage = _triage(tmp_path / "t.tsv", [(*TIMER_ROW, "correct", "interval"), GHOST_ROW, gone])
    code, out = _run(corpus, triage, capsys, "--consistency", "off")
    assert code == 1
    assert "triaged findings that disappeared: 1" in out
    assert "correct finding(s) no longer reported" in out


def test_a_crash_fails(corpus: Path, tmp_path: Path, capsys) -> None:
    # a config that is not a JSON object is a clear problem, not a crash; a folder that is
    # not there makes check exit 2, which is one
    (corpus / "MANIFEST.tsv").write_text(
        (corpus / "MANIFEST.tsv").read_text() + "someone/ghost\t0\tMIT\t.\t0\t0\t\t\n"
    )
    triage = _triage(tmp_path / "t.tsv", [(*TIMER_ROW, "correct", "interval"), GHOST_ROW])
    code, out = _run(corpus, triage, capsys, "--consistency", "off")
    assert code == 1
    assert "== crashes: 2" in out and "someone__ghost: exit 2" in out


def test_matching_follows_moved_lines_and_tells_new_findings_apart() -> None:
    found = [
        eco.Found("r", "p.ts", 12, 1, "m", "const a = 1;"),  # moved from line 10
        eco.Found("r", "p.ts", 20, 1, "m", "const c = 3;"),  # new
        eco.Found("r", "p.ts", 30, 1, "m", "changed text"),  # same line, text edited
    ]
    rows = [
        eco.Triaged("r", "p.ts", 10, "const a = 1;", "correct", ""),
        eco.Triaged("r", "p.ts", 30, "old text", "wrong", ""),
        eco.Triaged("r", "p.ts", 40, "const d = 4;", "debatable", ""),
    ]
    pairs, untriaged, disappeared = eco.match(found, rows)
    assert [(f.line, t.line) for f, t in pairs] == [(12, 10), (30, 30)]
    assert [f.line for f in untriaged] == [20]
    assert [t.line for t in disappeared] == [40]


def test_no_corpus_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code, out = _run(tmp_path / "nowhere", tmp_path / "t.tsv", capsys)
    assert code == 2 and "no corpus at" in out
