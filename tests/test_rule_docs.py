"""Every rule is documented: sections present, Cloudflare sources cited, docs/rules/ current."""

from __future__ import annotations

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
