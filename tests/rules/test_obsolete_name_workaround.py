"""obsolete-name-workaround: init()/setName(), identifier parameters and RpcTarget wrappers
that tell an object the name `this.ctx.id.name` already holds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import (
    fix_all,
    fixture,
    flagged,
    marked,
    no_new_syntax_errors,
    run,
    snapshot,
    text_of,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "obsolete-name-workaround"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_setter_identifier_parameters_and_wrapper_are_reported(tmp_path: Path) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    kinds = {(f.data["class"], f.data["kind"], text_of(f)) for f in findings}
    assert kinds == {
        ("Profile", "setter", "setName"),  # reached via get(idFromName(userId))
        ("Feed", "parameter", "owner: string"),
        ("Cart", "wrapper", "CartSession"),
    }
    feed = [f for f in findings if f.data["class"] == "Feed"]
    assert sorted(f.data["method"] for f in feed) == ["latest", "post"]
    assert all(f.data["index"] == 0 for f in feed)


def test_nothing_reported_when_some_caller_uses_new_unique_id(tmp_path: Path) -> None:
    # Profile.init is called with the name, but one caller reaches Profile via newUniqueId():
    # there ctx.id.name is undefined, so the init() is still needed. Feed.remember stores its
    # argument, but is not named like a setter and never receives the object's name.
    root = fixture(RULE, "mixed-callers", tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_init_with_a_different_value_and_no_setter_name_is_not_reported(tmp_path: Path) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    index = root / "src" / "index.ts"
    # the feed calls now pass something other than the name the id came from
    index.write_text(
        index.read_text()
        .replace("await feed.post(userId,", "await feed.post(url.hostname,")
        .replace(".latest(userId, 20)", ".latest(url.hostname, 20)")
    )
    findings, _ = run(RULE, root)
    assert "Feed" not in {f.data["class"] for f in findings}


def test_examples_session_store_init_is_reported() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "rate-limiter"
    findings, _ = run(RULE, examples)
    assert [(f.data["class"], f.data["kind"], text_of(f)) for f in findings] == [
        ("SessionStore", "setter", "init")
    ]


# -- the fix ---------------------------------------------------------------------------------


def test_fix_removes_setter_and_parameters_and_reads_ctx_id_name(tmp_path: Path) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    before = snapshot(root)
    assert fix_all(RULE, root) == 0  # unsafe only
    assert fix_all(RULE, root, unsafe=True) == 3  # setter + two parameters; wrapper: advice
    assert fix_all(RULE, root, unsafe=True) == 0
    no_new_syntax_errors(before, root)
    remaining, _ = run(RULE, root)
    assert [f.data["kind"] for f in remaining] == ["wrapper"]
    profile = (root / "src" / "profile.ts").read_text()
    assert "setName" not in profile and "hello ${this.ctx.id.name}" in profile
    feed = (root / "src" / "feed.ts").read_text()
    assert "  post(\n    text: string,\n  ): void {\n    const owner = this.ctx.id.name!;\n" in feed
    index = (root / "src" / "index.ts").read_text()
    assert "setName" not in index
    assert 'await feed.post(url.searchParams.get("text") ?? "");' in index
    assert "getByName(userId).latest(20);" in index


def test_fix_on_the_example_replaces_the_stored_name_read(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "rate-limiter"
    root = tmp_path / "rl"
    shutil.copytree(examples, root)
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert not fix.is_safe and "newUniqueId" in fix.review
    assert fix_all(RULE, root, unsafe=True) == 1
    store = (root / "src" / "session-store.ts").read_text()
    assert "async init(" not in store and 'storage.put("name"' not in store
    assert "const userId = this.ctx.id.name;" in store
    index = (root / "src" / "index.ts").read_text()
    assert "sessions.init(" not in index
    assert "const sessions = env.SESSIONS.getByName(userId);\n  const sessionId" in index


def test_no_fix_when_the_setter_result_is_used(tmp_path: Path) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    index = root / "src" / "index.ts"
    index.write_text(
        index.read_text().replace(
            "await profile.setName(userId);", "const ok = await profile.setName(userId);"
        )
    )
    findings, model = run(RULE, root)
    setter = next(f for f in findings if f.data["kind"] == "setter")
    assert fixes_for(setter, model) == []
