"""The command line: exit codes, the four output formats, rule docs, start-up imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from durable_harden.server.cli import main
from tests.conftest import ROOT

TIMER_PROJECT = {
    "wrangler.jsonc": """
    {
      "name": "t",
      "main": "src/index.ts",
      "compatibility_date": "2026-03-01",
    }
    """,
    "src/index.ts": """
    import { DurableObject } from "cloudflare:workers";
    export class Room extends DurableObject {
      start() {
        // 日本語 before the call shifts byte columns but not character columns
        const t = "日本"; setInterval(() => this.tick(), 1000);
      }
      tick() {}
    }
    """,
}

CLEAN_PROJECT = {
    "src/index.ts": """
    import { DurableObject } from "cloudflare:workers";
    export class Room extends DurableObject {
      async alarm() {}
    }
    """
}

SARIF_SCHEMA = (
    ROOT / "tests/runtime/node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"
)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes(project, capsys):
    dirty = project(TIMER_PROJECT)
    assert run(capsys, "check", str(dirty))[0] == 1
    assert run(capsys, "check", "--exit-zero", str(dirty))[0] == 0
    assert run(capsys, "check", "--ignore", "timer-blocks-hibernation", str(dirty))[0] == 0
    code, _, err = run(capsys, "check", "--select", "no-such-rule", str(dirty))
    assert code == 2 and "unknown rule, group or prefix `no-such-rule`" in err
    code, out, err = run(capsys, "check", str(dirty / "missing-folder"))
    assert code == 2 and "no such file or folder" in out


def test_clean_project_exits_zero(tmp_path, capsys):
    from tests.conftest import write_tree

    root = write_tree(tmp_path, CLEAN_PROJECT)
    code, out, _ = run(capsys, "check", str(root))
    assert code == 0
    assert "All checks passed!" in out


def test_text_output_is_ruff_like_without_colour(project, capsys, monkeypatch):
    root = project(TIMER_PROJECT)
    monkeypatch.chdir(root)
    code, out, _ = run(capsys, "check")
    assert code == 1
    first = out.splitlines()[0]
    # character column: `    const t = "日本"; ` is 20 characters (26 bytes) before `setInterval`
    assert first.startswith("src/index.ts:5:21: timer-blocks-hibernation ")
    assert "\x1b[" not in out
    assert "^^^^^^^^^^^" in out  # the code frame underlines `setInterval`
    assert "Found 1 problem." in out


def test_json_output_shape(project, capsys):
    root = project(TIMER_PROJECT)
    code, out, _ = run(capsys, "check", "--output-format", "json", str(root))
    assert code == 1
    (item,) = json.loads(out)
    assert item["code"] == "timer-blocks-hibernation"
    assert item["message_id"] == "timer"  # stable while the message's wording changes
    assert item["filename"] == str(root / "src/index.ts")
    assert item["location"] == {"row": 5, "column": 21}
    assert item["end_location"] == {"row": 5, "column": 32}
    assert item["url"].endswith("/timer-blocks-hibernation.md")
    assert set(item) >= {"code", "message", "filename", "location", "end_location", "fix", "url"}
    if item["fix"] is not None:
        assert item["fix"]["applicability"] in {"safe", "unsafe"}


def test_sarif_output_validates_against_the_2_1_0_schema(project, capsys):
    assert SARIF_SCHEMA.exists(), (
        "the schema comes from tests/runtime: run `npm ci --prefix tests/runtime`"
    )
    root = project(TIMER_PROJECT)
    (root / "src/broken.ts").write_bytes(b"\xff\xfe not utf-8")
    code, out, _ = run(capsys, "check", "--output-format", "sarif", str(root))
    assert code == 1
    log = json.loads(out)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(log, schema)
    run_ = log["runs"][0]
    (result,) = run_["results"]
    assert result["ruleId"] == "timer-blocks-hibernation"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    rules = run_["tool"]["driver"]["rules"]
    assert rules[result["ruleIndex"]]["id"] == "timer-blocks-hibernation"
    # the message id names an entry of its rule's messageStrings (SARIF 3.11.10); the text stays
    assert result["message"]["id"] == "timer" and result["message"]["text"]
    assert "timer" in rules[result["ruleIndex"]]["messageStrings"]
    assert all(r["messageStrings"] for r in rules)  # every rule declares its messages
    notes = run_["invocations"][0]["toolExecutionNotifications"]
    assert any("not valid UTF-8" in n["message"]["text"] for n in notes)


def test_github_annotations(project, capsys, monkeypatch):
    root = project(TIMER_PROJECT)
    monkeypatch.chdir(root)
    code, out, _ = run(capsys, "check", "--output-format", "github")
    assert code == 1
    assert out.startswith(
        "::warning file=src/index.ts,line=5,col=21,endLine=5,endColumn=32,title=timer-blocks-hibernation::"
    )


def test_rules_and_rule_docs(capsys):
    code, out, _ = run(capsys, "rules")
    assert code == 0
    assert "timer-blocks-hibernation" in out and "warning" in out
    code, out, _ = run(capsys, "rule", "timer-blocks-hibernation")
    assert code == 0
    for section in (
        "## What it does",
        "## Why it matters",
        "## Example",
        "## Fix and its safety",
        "## Messages",
        "## References",
        "## Source",
    ):
        assert section in out
    # the fix half comes from codeactions/timer_blocks_hibernation.py; paths, not relative links
    assert "### timer moved to an alarm (unsafe)" in out
    assert "`timer-blocks-hibernation/timer`" in out
    assert "`codeactions/timer_blocks_hibernation.py`" in out and "../../" not in out
    assert "developers.cloudflare.com" in out
    code, _, err = run(capsys, "rule", "nope")
    assert code == 2 and "unknown rule 'nope'" in err


def test_cli_start_up_does_not_import_the_lsp_stack(project):
    root = project(TIMER_PROJECT)
    script = (
        "import sys\n"
        "from durable_harden.server.cli import main\n"
        f"main(['check', '--output-format', 'json', {str(root)!r}])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'pygls', 'lsprotocol'})\n"
        "sys.exit(3 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_console_script_runs(project):
    root = project(TIMER_PROJECT)
    exe = Path(sys.executable).parent / "durable-harden"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "durable_harden"]
    proc = subprocess.run([*cmd, "check", str(root)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "timer-blocks-hibernation" in proc.stdout
