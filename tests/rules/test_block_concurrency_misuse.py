"""block-concurrency-misuse: per-request use, or network I/O inside the constructor's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules._config_support import fixture, flagged, line_of, marked, run
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "block-concurrency-misuse"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_per_request_and_io_uses_are_reported_schema_setup_is_not(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    findings, _ = run(RULE, root)
    assert sorted((line_of(f), f.data["class"], f.data["problem"]) for f in findings) == [
        (18, "Store", "outside-constructor"),
        (29, "ConfigHolder", "io-inside"),
    ]


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    assert flagged(run(RULE, root)[0], root) == marked(root)


LAZY = """import { DurableObject } from "cloudflare:workers";
export class Session extends DurableObject {
  private loaded = false;
  private loading?: Promise<void>;
  private ready?: Promise<void>;
  async load(): Promise<void> {
    if (this.loaded) return;
    if (this.loading) {
      await this.loading;
      return;
    }
    this.loading = this.ctx.blockConcurrencyWhile(async () => {
      this.loaded = true;
    });
    await this.loading;
  }
  async warm(): Promise<void> {
    if (!this.ready) {
      this.ready = this.ctx.blockConcurrencyWhile(async () => {});
    }
    this.ready ??= this.ctx.blockConcurrencyWhile(async () => {});
    await this.ready;
  }
  async fetch(request: Request): Promise<Response> {
    return this.ctx.blockConcurrencyWhile(async () => new Response(await request.text()));
  }
}
"""


def test_guarded_lazy_init_once_per_wake_is_not_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "session.ts").write_text(LAZY)
    findings, _ = run(RULE, tmp_path)
    # only the per-request wrapper of fetch() blocks every request
    assert [f.message.split("`")[3] for f in findings] == ["fetch"]


@pytest.mark.parametrize(
    ("callback", "reported"),
    [
        ("const r = await fetch(env.UPSTREAM);", True),
        ("const r = await globalThis.fetch(env.UPSTREAM);", True),
        ("await log(await fetch(env.UPSTREAM));", True),  # nested in another call
        ("await this.fetch(new Request(env.UPSTREAM));", False),  # the object's own handler
        ("await fetcher.fetch(env.UPSTREAM);", False),  # some other object's method
        ("await myfetch(env.UPSTREAM);", False),  # a longer name
        ("await fetchAll(env.UPSTREAM);", False),
        ('const url = "fetch(x)"; await log(url);', False),  # the word in a string
        ("await log(1); // fetch(env.UPSTREAM)", False),  # in a comment
    ],
)
def test_fetch_calls_inside_the_constructor_s_callback(
    tmp_path: Path, callback: str, reported: bool
) -> None:
    """The constructor's callback is reported for a call of the global `fetch` (found from the
    word's places, not a walk of the callback's calls): the same calls as the callee check
    of every call of the callback gives."""
    source = (
        'import { DurableObject } from "cloudflare:workers";\n'
        "declare function log(x: unknown): Promise<void>;\n"
        "declare function myfetch(x: unknown): Promise<void>;\n"
        "declare function fetchAll(x: unknown): Promise<void>;\n"
        "declare const fetcher: { fetch(x: unknown): Promise<void> };\n"
        "export class Holder extends DurableObject<{ UPSTREAM: string }> {\n"
        "  constructor(ctx: DurableObjectState, env: { UPSTREAM: string }) {\n"
        "    super(ctx, env);\n"
        f"    ctx.blockConcurrencyWhile(async () => {{\n      {callback}\n    }});\n"
        "  }\n"
        "}\n"
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "holder.ts").write_text(source)
    findings, _ = run(RULE, tmp_path)
    assert [f.data["problem"] for f in findings] == (["io-inside"] if reported else [])
