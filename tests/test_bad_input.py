"""Bad input: every file that cannot be read gets a clear message; the rest is still checked."""

from __future__ import annotations

from durable_harden.analyzers.analysis import Settings, analyze_paths

TIMER_CLASS = """
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  start() { setTimeout(() => this.flush(), 5000); }
  flush() {}
}
"""


def rule_ids(result) -> list[str]:
    return [f.rule_id for f in result.findings]


def test_non_utf8_empty_and_huge_files_do_not_stop_the_analysis(project):
    huge = ("export const filler = " + repr("x" * 100) + ";\n") * 45_000  # ~5.3 MB
    root = project(
        {
            "src/room.ts": TIMER_CLASS,
            "src/latin1.ts": "export const name = 'café';\n".encode("latin-1"),
            "src/empty.ts": "",
            "src/huge.ts": huge,
        }
    )
    result = analyze_paths([root], Settings())
    assert rule_ids(result) == ["timer-blocks-hibernation"]
    messages = {p.path.name: p.message for p in result.problems}
    assert "not valid UTF-8" in messages["latin1.ts"]
    assert "empty.ts" not in messages and "huge.ts" not in messages


def test_oversized_file_is_skipped_with_a_message(project, monkeypatch):
    import durable_harden.analyzers.source as source

    monkeypatch.setattr(source, "MAX_SOURCE_BYTES", 1000)
    root = project({"src/room.ts": TIMER_CLASS, "src/bundle.ts": "//" + "x" * 2000 + "\n"})
    result = analyze_paths([root], Settings())
    assert rule_ids(result) == ["timer-blocks-hibernation"]
    (problem,) = result.problems
    assert problem.path.name == "bundle.ts" and "over the" in problem.message


def test_malformed_wrangler_config_is_reported_and_sources_still_checked(project):
    root = project(
        {
            "wrangler.jsonc": '{ "main": "src/room.ts", "durable_objects": [ }',
            "src/room.ts": TIMER_CLASS,
        }
    )
    result = analyze_paths([root], Settings())
    assert rule_ids(result) == ["timer-blocks-hibernation"]
    (problem,) = result.problems
    assert problem.path.name == "wrangler.jsonc"
    assert problem.message.startswith("wrangler config skipped: invalid JSON")


def test_malformed_toml_config(project):
    root = project(
        {"wrangler.toml": 'main = "src/room.ts"\n[[migrations]\n', "src/room.ts": TIMER_CLASS}
    )
    result = analyze_paths([root], Settings())
    (problem,) = result.problems
    assert "invalid TOML" in problem.message
    assert rule_ids(result) == ["timer-blocks-hibernation"]


def test_half_typed_code_reports_nothing_inside_the_error(project):
    root = project(
        {
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Room extends DurableObject {
              start() { setTimeout(() => this.flush(), 5000); }
              broken() { const delay = ; setInterval(() => this.flush(), delay +); }
              flush() {}
            }
            """
        }
    )
    result = analyze_paths([root], Settings())
    source = result.model.files[0]
    assert source.error_ranges, "the file really has a syntax error"
    errors = [f for f in result.findings if f.rule_id == "syntax-error"]
    assert errors, "the error itself is reported (syntax-error)"
    others = [f for f in result.findings if f.rule_id != "syntax-error"]
    for finding in others:
        assert not source.in_error(finding.span.start, finding.span.end)
    lines = [source.lines.row_of(f.span.start) + 1 for f in others]
    assert 3 in lines  # the well-formed setTimeout above the error is still reported
