"""Fix for rpc-compat-date: move compatibility_date to 2024-04-03 (unsafe)."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules.rpc_compat_date import RPC_DATE, RpcDateState
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    config = state_of(finding, RpcDateState).config
    if ("compatibility_date",) not in config.spans:
        return []
    start, end = config.spans[("compatibility_date",)].value
    old = config.data[start:end].decode()
    quote = old[0] if old[:1] in {'"', "'"} else ""
    return [
        Fix(
            fix_id="rpc-compat-date.bump",
            title=f"Set compatibility_date to {RPC_DATE}",
            safety=Safety.UNSAFE,
            edits=[Edit(config.path, start, end, f"{quote}{RPC_DATE}{quote}")],
            review=(
                f"Every runtime change between {old.strip(quote)} and {RPC_DATE} applies to the "
                "whole Worker: read the compatibility-dates page for that range and test."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "compatibility_date 2024-04-03",
            UNSAFE,
            """
Sets `compatibility_date` to 2024-04-03.
""",
            why="""
Unsafe: every behaviour change between the old date and the new one applies to the whole Worker.
""",
        ),
    ),
    review="""
The compatibility-date changelog for that range (or pick today's date and test).
""",
    references=("https://developers.cloudflare.com/workers/configuration/compatibility-flags/",),
)


SPEC = FixSpec("rpc-compat-date", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
