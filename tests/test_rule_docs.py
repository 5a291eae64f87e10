"""Every rule is documented: sections present, Cloudflare sources cited, docs/rules/ current."""

from __future__ import annotations

import sys

import pytest

from durable_harden.analyzers.rules import all_rules
from durable_harden.server.ruledocs import main as ruledocs_main


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_rule_docs_have_every_section_and_a_source(rule):
    docs = rule.docs
    for part in (docs.what, docs.why, docs.example, docs.fix):
        assert len(part.strip()) > 20
    assert docs.references, "cite a source"
    assert any(ref.startswith("https://") for ref in docs.references), "cite at least one URL"
    assert rule.id == rule.id.lower() and " " not in rule.id


def test_rule_ids_are_unique():
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))


def test_generated_pages_are_current(capsys):
    assert ruledocs_main(["--check"]) == 0, capsys.readouterr().out


def test_every_fix_spec_names_a_known_rule_and_its_page_links_both_halves() -> None:
    from durable_harden.codeactions import specs
    from durable_harden.server.ruledocs import REPO, render_all

    known = {r.id for r in all_rules()}
    assert set(specs()) <= known
    pages = render_all()
    for rule_id, spec in specs().items():
        page = pages[f"{rule_id}.md"]
        module = spec.build.__module__.split(".")[-1]
        assert f"(../../codeactions/{module}.py)" in page
        assert (REPO / "codeactions" / f"{module}.py").is_file()
        assert module == rule_id.replace("-", "_"), "codeactions/<rule_id>.py"


def test_a_spec_for_an_unknown_rule_is_refused(tmp_path, monkeypatch) -> None:
    import durable_harden.codeactions as codeactions

    (tmp_path / "bogus_rule.py").write_text(
        "from durable_harden.codeactions.spec import FixSpec\n"
        "SPEC = FixSpec('no-such-rule', lambda finding, model: [])\n"
    )
    monkeypatch.setattr(codeactions, "__path__", [*codeactions.__path__, str(tmp_path)])
    codeactions.specs.cache_clear()
    try:
        with pytest.raises(codeactions.UnknownRule, match="no-such-rule"):
            codeactions.specs()
    finally:
        monkeypatch.undo()
        codeactions.specs.cache_clear()
        sys.modules.pop("durable_harden.codeactions.bogus_rule", None)
