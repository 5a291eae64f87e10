"""Real typing (character by character, brackets and quotes closed ahead of the cursor as an
editor does) at the places where the members of a class change shape: a new method typed on a
blank line between two members passes through a field (`  he`), a signature that takes the
next member in (`  helper():` followed by a method is one method with an error) and a body.

After every keystroke the engine's findings equal a fresh analysis, and the model spliced from
the previous version equals a whole-file extraction of the same tree (tests/test_speed_splice.py
`Editor`). The keystrokes whose members next to the edit changed are spliced (the region takes
them in: analyzers/splice.py `_unchanged_sides`); typing a method that hands no parameter to
exec() keeps the file's wrapper summary spliced (`splice.wrappers`), or its heads when it has
no wrapper (`splice.light_wrappers`, `model._whole_light_summary`); typing a type patches the
file's declared types (`Splice.notes`). No timing is asserted (bench/keystroke_inprocess.py
--typing measures)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from durable_harden.analyzers import model as model_module
from durable_harden.analyzers.model import build_model
from durable_harden.analyzers.source import parse_source
from durable_harden.analyzers.sqlwrappers import declared_types, heads, summarize
from tests.test_speed_incremental import MEMBERS_FILE, Session, _members_project
from tests.test_speed_splice import Editor

ROOT = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(ROOT / "bench"))
try:
    from typing_edits import keystrokes
finally:
    sys.path.remove(str(ROOT / "bench"))

# (where: the text typed before, what is typed) in MEMBERS_FILE
TYPED = [
    # a method on the blank line before `list(owner`, with SQL and a cast typed last
    (
        "\n  list(owner: string)",
        '\n  helper(): number {\n    return this.ctx.storage.sql.exec("SELECT id FROM items'
        ' WHERE owner = ?", "x").one().id as number;\n  }\n',
    ),
    # a field, then a method right after the constructor (the member before the edit is the
    # constructor, which must not change)
    ("\n\n  async alarm()", "\n  counter = 0;\n  bump(): void { this.counter += 1; }"),
    # at the very end of a member (typing after its `}`), then a new member on the same line
    ("\n\n  tune(): void", " extra(): void {}"),
    # typed parameters: each letter of a type gives the parameter another declared type
    (
        "\n  list(owner: string)",
        "\n  find(key: string, store: DurableObjectStorage, n: Map<string, number>): unknown {"
        "\n    return store.get(key);\n  }\n",
    ),
]


def _typing(text: str, where: str, typed: str) -> list[str]:
    at = text.index(where)
    versions = []
    for offset, inserted in keystrokes(typed):
        place = at + offset
        text = text[:place] + inserted + text[place:]
        versions.append(text)
    return versions


@pytest.mark.parametrize("case", range(len(TYPED)))
def test_typing_matches_a_fresh_analysis(tmp_path: Path, case: int) -> None:
    where, typed = TYPED[case]
    root, target = _members_project(tmp_path)
    s = Session(root, [target])
    s.compare("opening")
    versions = _typing(MEMBERS_FILE, where, typed)
    spliced = 0
    for number, text in enumerate(versions):
        s.write(target, text.encode())
        s.compare(f"keystroke {number}: {text[text.index(where[:8]) :][:60]!r}")
        edited = s.engine.open_parsed[target.resolve()]
        spliced += edited.memo.get("splice") is not None
    # without the region taking in the members next to the edit, typing a name at the end of
    # a field or member is never spliced ("the member before the edit changed")
    assert spliced >= len(versions) * 0.8, (spliced, len(versions))


def test_typed_members_spliced_and_equal_to_a_whole_extraction(tmp_path: Path) -> None:
    root, target = _members_project(tmp_path)
    editor = Editor(root, target)
    reasons: list[str] = []
    total = 0
    for where, typed in TYPED:
        versions = _typing(MEMBERS_FILE, where, typed)
        for number, text in enumerate(versions):
            new = editor.edit(text.encode(), f"{where!r} keystroke {number}")
            reasons += [str(new.memo["no_splice"])] if new.memo.get("splice") is None else []
        total += len(versions)
        editor.edit(MEMBERS_FILE.encode(), f"{where!r} undone")
    # the few left: a half-typed field that breaks the class (`counter =` before `async
    # alarm()`) and the keystroke that mends it, a cast half typed (other facts)
    assert len(reasons) <= total * 0.1, reasons


WRAPPER = """
  run(sql: string, ...values: unknown[]): unknown[] {
    return this.ctx.storage.sql.exec(sql, ...values).toArray();
  }
"""


@pytest.mark.parametrize("wrapper", [False, True], ids=["no wrapper", "a wrapper"])
def test_a_typed_method_keeps_the_wrapper_summary_spliced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrapper: bool
) -> None:
    """A method handing no parameter to exec() typed between two members. In a file with no
    wrapper (summarized by its heads in a whole build), the summary stays its heads
    (`splice.light_wrappers`); in a file with one (`run(sql, ...values)`, summarized in full),
    it is the previous one with the method's calls and function added (`splice.wrappers`).
    Either way the whole file is not summarized again, and the summary equals the whole
    build's of the same text."""
    root, target = _members_project(tmp_path)
    text = MEMBERS_FILE
    if wrapper:
        text = text.replace("\n  tune(): void", WRAPPER + "\n  tune(): void")
        target.write_text(text)
    s = Session(root, [target])
    s.compare("opening")
    whole: list[Any] = []
    real = model_module.summarize_wrappers

    def counted(*args: Any) -> Any:
        whole.append(args[0])
        return real(*args)

    monkeypatch.setattr(model_module, "summarize_wrappers", counted)
    where, typed = TYPED[0]
    versions = _typing(text, where, typed)
    checked = light = 0
    for number, version in enumerate(versions):
        s.write(target, version.encode())
        whole.clear()
        s.compare(f"keystroke {number}")
        new = s.engine.open_parsed[target.resolve()]
        sp = new.memo.get("splice")
        if sp is None:
            continue  # the whole file read again (a half-typed cast states other facts)
        if number == 0 and wrapper:
            continue  # the opening's build summarized the file by exec() calls alone
        if any(f is new for f in whole):  # (not the reference analysis's own parse)
            # only while the half-typed method takes the next one in (`helper():` followed by
            # `list(owner…)` is one method), or splits from it: the region then holds that
            # method's sink (its parameter reaches exec()), under another function's name
            assert any(
                b"list(owner" in new.data[m.start_byte : m.end_byte] for m in sp.members_new
            ) or any(
                b"list(owner" in sp.old.data[m.start_byte : m.end_byte] for m in sp.members_old
            ), number
            continue
        got = s.engine.models[root].__dict__["_build_state"].summaries[new.path]
        fresh = parse_source(new.path, new.data)
        others = [p for p in sorted((root / "src").glob("*.ts")) if p != new.path]
        parsed = {p: parse_source(p, p.read_bytes()) for p in others} | {new.path: fresh}
        rebuilt = build_model(root, list(parsed), sorted(root.glob("wrangler.*")), parsed=parsed)
        classes = [c for c in rebuilt.classes if c.file is fresh]
        # without a wrapper: its heads, also after a keystroke that read the whole file
        assert got.partial != wrapper, number
        if got.partial:
            want = heads(fresh)
            light += 1
        else:
            want = summarize(fresh, classes, model_module._state_params(fresh))
        assert want is not None
        assert (got.sinks, got.functions, got.bases, got.imports, got.calls) == (
            want.sinks,
            want.functions,
            want.bases,
            want.imports,
            want.calls,
        ), number
        checked += 1
    assert checked >= len(versions) * 0.8
    assert light >= (0 if wrapper else len(versions) * 0.8), light


def test_a_wrapper_pasted_into_a_file_without_one(tmp_path: Path) -> None:
    """A file summarized by its heads (no wrapper) gets one pasted into it (one edit, a
    parameter without a type: the region states no other fact, so the splice follows), then a
    call to it pasted elsewhere: the summary cannot stay the heads once a method hands its
    parameter to exec() (`light_wrappers` reads the region's sinks), and the call's SQL is
    checked through the wrapper as a fresh analysis checks it."""
    root, target = _members_project(tmp_path)
    s = Session(root, [target])
    s.compare("opening")
    text = MEMBERS_FILE.replace(
        "\n  list(owner: string)",
        "\n  q(sql) { return this.ctx.storage.sql.exec(sql).toArray(); }\n\n  list(owner: string)",
    )
    s.write(target, text.encode())
    s.compare("the wrapper pasted")
    edited = s.engine.open_parsed[target.resolve()]
    assert edited.memo.get("splice") is not None, edited.memo.get("no_splice")
    summary = s.engine.models[root].__dict__["_build_state"].summaries[target.resolve()]
    assert not summary.partial and any(sink.func[1] == "q" for sink in summary.sinks)
    text = text.replace(
        "\n    await this.ctx.storage.put(key, 1);",
        '\n    this.q("SELECT * FROM items");\n    await this.ctx.storage.put(key, 1);',
    )
    s.write(target, text.encode())
    s.compare("a call to it pasted")


def test_declared_types_follow_typed_types(tmp_path: Path) -> None:
    """The file's declared types (sqlwrappers.declared_types: the class each spelling is
    given) patched by each keystroke's type notes (`Splice.notes`, `_carry_memos`) equal those
    of a fresh parse of the same text, keystroke after keystroke, while a parameter's, a
    field's and a variable's types are typed (some of them spelled elsewhere too)."""
    root, target = _members_project(tmp_path)
    editor = Editor(root, target)
    patched = 0
    text = MEMBERS_FILE
    for where, typed in [
        TYPED[3],
        ("\n\n  async alarm()", "\n  private seen = new Map();\n  ws: WebSocket | null = null;"),
        ("\n    let total = 0;", "\n    const owner: string = keys[0];"),
    ]:
        versions = _typing(text, where, typed)
        for number, version in enumerate(versions):
            new = editor.edit(version.encode(), f"{typed[:20]!r} keystroke {number}")
            declared_types(new)  # asked: patched from the previous version's when it had them
            sp = new.memo.get("splice")
            patched += sp is not None and sp.notes is not None
            fresh = parse_source(new.path, new.data)
            assert new.memo["declared_types"] == declared_types(fresh), number
        text = versions[-1]
    assert patched >= 20, patched


def test_a_typed_parameter_changes_which_wrapper_a_call_reaches(tmp_path: Path) -> None:
    """A file with a wrapper (`run`, summarized in full) and a call to it through a typed
    parameter (`db.run(…)` with `db: Members`): typing another parameter named `db` gives the
    spelling two classes while its type is half typed, so the call reaches no wrapper and its
    SQL (a BEGIN, reported through the wrapper) is not checked; the summary's calls are then read again (`wrappers` refuses a splice
    whose type notes differ), as a fresh analysis reads them."""
    root, target = _members_project(tmp_path)
    text = MEMBERS_FILE.replace(
        "\n  tune(): void",
        WRAPPER
        + '\n  viaDb(db: Members): unknown[] {\n    return db.run("BEGIN TRANSACTION");\n  }\n'
        + "\n  tune(): void",
    )
    target.write_text(text)
    s = Session(root, [target])
    s.compare("opening")
    for number, version in enumerate(
        _typing(text, "\n  list(owner: string)", "\n  other(db: Members): void {}\n")
    ):
        s.write(target, version.encode())
        s.compare(f"keystroke {number}")


def test_a_file_without_wrappers_is_summarized_by_its_heads_again_after_a_whole_read(
    tmp_path: Path,
) -> None:
    """Typing `store: DurableObjectStorage` makes the member state another typed parameter (a
    storage alias): that keystroke reads the whole file again. The file, which hands nothing
    to exec(), is then summarized by its heads as a whole build does (`_whole_light_summary`),
    so the next keystrokes take the light path again instead of the full summary's."""
    root, target = _members_project(tmp_path)
    s = Session(root, [target])
    s.compare("opening")
    whole_reads = 0
    for number, version in enumerate(_typing(MEMBERS_FILE, *TYPED[3])):
        s.write(target, version.encode())
        s.compare(f"keystroke {number}")
        new = s.engine.open_parsed[target.resolve()]
        whole_reads += new.memo.get("splice") is None
        summary = s.engine.models[root].__dict__["_build_state"].summaries[new.path]
        assert summary.partial, number
    assert whole_reads >= 1
