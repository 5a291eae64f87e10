"""Every rule is documented: sections present, Cloudflare sources cited, docs/rules/ current; the
rule record's two halves (analyzers/rules/<id>.py, codeactions/<id>.py) agree."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from durable_harden.analyzers.findings import MESSAGE_ID, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.rules import all_rules
from durable_harden.codeactions import Fix, Safety, spec_for, specs
from durable_harden.server.ruledocs import REPO, page, render_all
from durable_harden.server.ruledocs import main as ruledocs_main


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_rule_docs_have_every_section_and_a_source(rule):
    docs = rule.docs
    for part in (docs.what, docs.why, docs.example):
        assert len(part.strip()) > 20
    assert docs.references, "cite a source"
    assert any(ref.startswith("https://") for ref in docs.references), "cite at least one URL"
    assert rule.id == rule.id.lower() and " " not in rule.id
    spec = spec_for(rule.id)
    if spec is None:
        assert len(docs.no_fix.strip()) > 20, "say why the rule has no fix"
        return
    assert not docs.no_fix, "the fix docs live in the spec"
    for offer in spec.docs.offers:
        assert len(offer.name.strip()) > 2 and len(offer.what.strip()) > 20, offer
        assert offer.safety, f"{offer.name}: declare its safety"
    # every unsafe fix says why it is unsafe or what to review
    if Safety.UNSAFE in spec.safeties:
        assert spec.docs.review.strip() or all(o.why.strip() for o in spec.docs.offers)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_every_rule_declares_its_message_ids(rule):
    assert rule.messages, "declare the rule's messages (RULE.messages)"
    for message_id, text in rule.messages.items():
        assert MESSAGE_ID.fullmatch(message_id), message_id
        assert len(text) > 10, f"{message_id}: say what the message is about"


def test_a_finding_with_an_undeclared_message_id_is_refused():
    from durable_harden.analyzers.findings import UnknownMessageId
    from durable_harden.analyzers.rules import rule_by_id

    rule = rule_by_id("unbounded-table-growth")
    assert rule is not None
    found = rule.finding("no-retention", "m", Span(Path("a.ts"), 0, 1))
    assert (found.message_id, found.qualified_message_id) == (
        "no-retention",
        "unbounded-table-growth/no-retention",
    )
    with pytest.raises(UnknownMessageId, match="no-such-message"):
        rule.finding("no-such-message", "m", Span(Path("a.ts"), 0, 1))
    with pytest.raises(ValueError, match="kebab"):
        Rule("x", "x", Severity.INFO, rule.docs, rule.check, messages={"Not Kebab": "text"})


def test_rule_ids_are_unique():
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))


def test_generated_pages_are_current(capsys):
    assert ruledocs_main(["--check"]) == 0, capsys.readouterr().out


def test_every_fix_spec_names_a_known_rule_and_its_page_links_both_halves() -> None:
    known = {r.id for r in all_rules()}
    assert set(specs()) <= known
    pages = render_all()
    for rule in all_rules():
        page_text = pages[f"{rule.id}.md"]
        module = rule.id.replace("-", "_")
        assert f"(../../analyzers/rules/{module}.py)" in page_text
        spec = spec_for(rule.id)
        fix_section = page_text.split("## Fix and its safety\n", 1)[1].split("\n## ", 1)[0]
        if spec is None:
            assert fix_section.startswith("No automatic fix. ")
            assert rule.docs.no_fix.strip()[:40] in fix_section
            assert "../../codeactions/" not in page_text
            continue
        assert f"(../../codeactions/{module}.py)" in page_text
        assert (REPO / "codeactions" / f"{module}.py").is_file()
        assert spec.build.__module__.split(".")[-1] == module, "codeactions/<rule_id>.py"
        for offer in spec.docs.offers:  # the spec's docs, not the rule's, fill the section
            assert f"### {offer.name} (" in fix_section
            assert offer.what.strip()[:40] in fix_section
        for message_id in rule.messages:
            assert f"`{rule.id}/{message_id}`" in page_text


def test_hover_and_cli_pages_name_both_sources_without_relative_links() -> None:
    from durable_harden.server.ruledocs import file_link

    rule = next(r for r in all_rules() if r.id == "sql-missing-index")
    plain = page(rule)
    assert "`analyzers/rules/sql_missing_index.py`" in plain
    assert "`codeactions/sql_missing_index.py`" in plain
    assert "../../" not in plain
    linked = page(rule, file_link)
    target = (REPO / "codeactions" / "sql_missing_index.py").resolve().as_uri()
    assert f"]({target})" in linked


def _register(tmp_path, monkeypatch, name: str, source: str) -> None:
    import durable_harden.codeactions as codeactions

    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.setattr(codeactions, "__path__", [*codeactions.__path__, str(tmp_path)])
    codeactions.specs.cache_clear()


def _unregister(monkeypatch, name: str) -> None:
    import durable_harden.codeactions as codeactions

    monkeypatch.undo()
    codeactions.specs.cache_clear()
    sys.modules.pop(f"durable_harden.codeactions.{name}", None)


DOCS_SOURCE = (
    "from durable_harden.codeactions.spec import FixDocs, FixSpec, Offer, SAFE\n"
    "DOCS = FixDocs(offers=(Offer('x', SAFE, 'x'),))\n"
)


def test_a_spec_for_an_unknown_rule_is_refused(tmp_path, monkeypatch) -> None:
    import durable_harden.codeactions as codeactions

    _register(
        tmp_path,
        monkeypatch,
        "bogus_rule",
        DOCS_SOURCE + "SPEC = FixSpec('no-such-rule', lambda finding, model: [], docs=DOCS)\n",
    )
    try:
        with pytest.raises(codeactions.UnknownRule, match="no-such-rule"):
            codeactions.specs()
    finally:
        _unregister(monkeypatch, "bogus_rule")


def test_a_spec_whose_docs_offer_nothing_is_refused(tmp_path, monkeypatch) -> None:
    import durable_harden.codeactions as codeactions

    _register(
        tmp_path,
        monkeypatch,
        "global_singleton_fix",
        "from durable_harden.codeactions.spec import FixDocs, FixSpec\n"
        "SPEC = FixSpec('global-singleton', lambda f, m: [], docs=FixDocs(offers=()))\n",
    )
    try:
        with pytest.raises(codeactions.IncompleteRule, match="offers no fix"):
            codeactions.specs()
    finally:
        _unregister(monkeypatch, "global_singleton_fix")


def test_a_rule_without_a_spec_must_say_why_it_has_no_fix(monkeypatch) -> None:
    import durable_harden.analyzers.rules as rules_pkg
    import durable_harden.codeactions as codeactions

    real = rules_pkg.all_rules()
    silent = Rule(
        "silent-rule",
        "a rule with neither",
        Severity.INFO,
        RuleDocs("what", "why", "example", ("https://example.invalid",)),
        lambda model: [],
        messages={"m": "a message"},
    )
    says_none_but_fixes = next(r for r in real if r.id == "sql-missing-index")
    says_none_but_fixes = Rule(
        says_none_but_fixes.id,
        says_none_but_fixes.title,
        says_none_but_fixes.severity,
        RuleDocs("what", "why", "example", ("https://example.invalid",), no_fix="none, truly"),
        says_none_but_fixes.check,
    )
    for extra, expected in (
        ((*real, silent), "silent-rule"),
        ((*[r for r in real if r.id != "sql-missing-index"], says_none_but_fixes), "says none"),
    ):
        monkeypatch.setattr(rules_pkg, "all_rules", lambda extra=extra: extra)
        codeactions.specs.cache_clear()
        try:
            with pytest.raises(codeactions.IncompleteRule, match=expected):
                codeactions.specs()
        finally:
            monkeypatch.undo()
            codeactions.specs.cache_clear()


def test_a_fix_with_an_undeclared_safety_fails_the_fixture_check() -> None:
    """The check every snapshot runs (tests/rules/_snapshot.assert_declared) can fail."""
    from durable_harden.analyzers.rules import rule_by_id
    from tests.rules._snapshot import assert_declared

    rule = rule_by_id("unbounded-table-growth")  # declares only unsafe fixes
    assert rule is not None
    finding = rule.finding("no-retention", "m", Span(Path("a.ts"), 0, 1))
    assert_declared(finding, [Fix("ttl", "t", Safety.UNSAFE)])
    with pytest.raises(AssertionError, match="declares only"):
        assert_declared(finding, [Fix("ttl", "t", Safety.SAFE)])
    unknown = rule.finding("no-retention", "m", Span(Path("a.ts"), 0, 1))
    unknown.message_id = "made-up"
    with pytest.raises(AssertionError, match="not declared"):
        assert_declared(unknown, [])
    singleton = rule_by_id("global-singleton")  # no spec: must offer nothing
    assert singleton is not None
    with pytest.raises(AssertionError, match="no fix spec"):
        assert_declared(
            singleton.finding("constant-name", "m", Span(Path("a.ts"), 0, 1)),
            [Fix("x", "t", Safety.SAFE)],
        )


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_no_declared_message_id_is_dead(rule):
    """No dead message ids: each is recorded in one of the rule's snapshots or asserted by its
    test file (a test that checks which finding it is names the id)."""
    fixtures = REPO / "tests" / "fixtures" / rule.id / "snapshots"
    snapshots = "".join(p.read_text() for p in fixtures.glob("*.snap"))
    test_file = REPO / "tests" / "rules" / f"test_{rule.id.replace('-', '_')}.py"
    tests = test_file.read_text()
    for message_id in rule.messages:
        assert f" {rule.id}/{message_id} (" in snapshots or f'"{message_id}"' in tests, message_id
