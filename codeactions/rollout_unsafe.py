"""Fixes for rollout-unsafe: the percentage syntax, and `scripts/deploy-gradual.sh`."""

from __future__ import annotations

import json
import os
import re
import shlex
from functools import cache
from pathlib import Path

from durable_harden.analyzers import safejson
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_CHANGELOG, REF_GRADUAL
from durable_harden.analyzers.rules.rollout_unsafe import RolloutState
from durable_harden.analyzers.wrangler import WranglerConfig
from durable_harden.codeactions._jsonedit import json_add_entries
from durable_harden.codeactions.fix import Edit, Fix, NewFile, Safety, state_of
from durable_harden.codeactions.spec import (
    SAFE,
    SAFE_OR_UNSAFE,
    TIER_ROLLOUT,
    FixDocs,
    FixSpec,
    Offer,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
SCRIPT = Path("scripts") / "deploy-gradual.sh"
PACKAGE_SCRIPT = {"deploy:gradual": f"bash {SCRIPT.as_posix()}"}


@cache
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def tag_for(name: str) -> str:
    """The git tag recording which commit of Worker `name` is live."""
    return "deployed-" + re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def deploy_script(config: WranglerConfig) -> str:
    """The gradual-deployment script for one Worker, for `<config root>/scripts/`."""
    name = config.name or config.root.name
    tag = tag_for(name)
    extract = _template("extract-toml.sh" if config.format == "toml" else "extract-json.sh")
    up = os.path.relpath(config.root, config.root / SCRIPT.parent).replace(os.sep, "/")
    text = _template("deploy-gradual.sh")
    # Values from the project are data: in comments only printable characters (a newline would
    # end the comment and start a command), in code single-quoted words (docs/security.md).
    for key, value in {
        "@@EXTRACT@@": extract.rstrip("\n"),
        "@@NAME@@": comment_text(name),
        "@@CONFIG@@": comment_text(config.path.name),
        "@@TAG@@": comment_text(tag),
        "@@CONFIG_WORD@@": shlex.quote(config.path.name),
        "@@TAG_WORD@@": shlex.quote(tag),
        "@@UP_WORD@@": shlex.quote(up),
    }.items():
        text = text.replace(key, value)
    return text


def comment_text(value: str) -> str:
    """`value` made safe inside a `#` comment: control, line and paragraph separators (and any
    other non-printable character) become `?`."""
    return "".join(c if c.isprintable() else "?" for c in value)


def deploy_script_fix(config: WranglerConfig) -> Fix | None:
    target = config.root / SCRIPT
    if target.exists():
        return None
    return Fix(
        fix_id="rollout-unsafe.deploy-script",
        title=f"Add {SCRIPT.as_posix()}: upload, then 10 → 50 → 100 % with health checks",
        safety=Safety.SAFE,
        creates=[NewFile(target, deploy_script(config))],
        review=(
            "Set HEALTH_CHECK to a real check and tag the commit that is live now "
            f"(`git tag deployed-{config.name or config.root.name} <commit>`) before the first "
            "run; make the script executable (`chmod +x`) or run it with bash."
        ),
    )


def _single_edit(path: Path, before: bytes, after: bytes) -> Edit:
    """The one insertion/replacement turning `before` into `after` (common prefix and suffix)."""
    start = 0
    limit = min(len(before), len(after))
    while start < limit and before[start] == after[start]:
        start += 1
    end_before, end_after = len(before), len(after)
    while (
        end_before > start and end_after > start and before[end_before - 1] == after[end_after - 1]
    ):
        end_before -= 1
        end_after -= 1
    return Edit(path, start, end_before, after[start:end_after].decode("utf-8"))


def _after_deploy_script(package: Path, data: bytes) -> Edit | None:
    """`"deploy:gradual": …` on its own line right after the `"deploy"` script, indented like
    it; None when there is no such entry on a line of its own (json_add_entries places it)."""
    try:
        scripts = safejson.loads(data).get("scripts")
    except (ValueError, AttributeError):
        return None
    if not isinstance(scripts, dict) or "deploy" not in scripts or "deploy:gradual" in scripts:
        return None
    value = json.dumps(scripts["deploy"], ensure_ascii=False)
    match = re.search(
        rb'(?m)^([ \t]*)"deploy"[ \t]*:[ \t]*'
        + re.escape(value.encode())
        + rb"(,?)[ \t]*(?=\r?\n|\Z)",
        data,
    )
    if match is None or data.count(b'"deploy"') != 1:
        return None
    indent = match.group(1).decode()
    key, command = next(iter(PACKAGE_SCRIPT.items()))
    entry = f"{json.dumps(key)}: {json.dumps(command)}"
    newline = "\r\n" if data[match.end() : match.end() + 2] == b"\r\n" else "\n"
    if match.group(2):  # not the last entry: `"deploy": …,` + our line with its own comma
        return Edit(package, match.end(), match.end(), f"{newline}{indent}{entry},")
    return Edit(package, match.end(2), match.end(2), f",{newline}{indent}{entry}")


def rollout_path_fix(config: WranglerConfig, model: ProjectModel) -> Fix | None:
    """scripts/deploy-gradual.sh and a `deploy:gradual` package.json script running it."""
    target = config.root / SCRIPT
    if model.read(target) is not None:
        return None
    edits: list[Edit] = []
    package = config.root / "package.json"
    data = model.read(package)
    run = f"npm run {next(iter(PACKAGE_SCRIPT))}"
    if data is not None:
        after_deploy = _after_deploy_script(package, data)
        if after_deploy is not None:
            edits.append(after_deploy)
        else:
            try:
                updated = json_add_entries(data, "scripts", PACKAGE_SCRIPT)
            except ValueError:
                updated = data  # not an object we can edit in place: the script alone
            if updated != data:
                edits.append(_single_edit(package, data, updated))
    if not edits:
        run = f"bash {SCRIPT.as_posix()}"
    name = config.name or config.root.name
    return Fix(
        fix_id="rollout-unsafe.rollout-path",
        title=(
            f"Add {SCRIPT.as_posix()} (upload a version, then 10 → 50 → 100 % with health "
            f"checks) and run it with `{run}`"
        ),
        safety=Safety.UNSAFE,
        edits=edits,
        creates=[NewFile(target, deploy_script(config))],
        review=(
            f"This changes how the team deploys: release code with `{run}` instead of "
            "`wrangler deploy`. A release that changes `migrations` or `exports` (a new, renamed "
            "or deleted Durable Object class) still needs `wrangler deploy`: the script stops "
            "and says so. During a rollout each object runs one version, but one client's "
            "requests can reach both: send `Cloudflare-Workers-Version-Key` (a user or session "
            "id) to keep a client on one version. Every deploy restarts objects and drops their "
            "WebSockets; `durable_objects.code_update_strategy` (mode `deferred`) lets existing "
            "connections finish. Before the first run set HEALTH_CHECK and tag the live commit "
            f"(`git tag deployed-{name} <commit>`)."
        ),
    )


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    config = state_of(finding, RolloutState).config
    if finding.data.get("kind") == "no-rollout-path":
        fix = rollout_path_fix(config, model)
        return [fix] if fix is not None else []
    fixes: list[Fix] = []
    replace = finding.data.get("replace")
    if isinstance(replace, list) and len(replace) == 4:
        start, end, new_text, old_text = replace
        path = Path(finding.span.path)
        try:
            current = path.read_bytes()[int(start) : int(end)].decode()
        except OSError:
            current = ""
        # the token as analysed, maybe quoted: replace inside it
        if old_text in current:
            fixes.append(
                Fix(
                    fix_id="rollout-unsafe.percentages",
                    title=f"Make the percentages sum to 100 (`{new_text}`)",
                    safety=Safety.SAFE,
                    edits=[
                        Edit(path, int(start), int(end), current.replace(old_text, new_text, 1))
                    ],
                    review="Check which version was meant to get the remaining share.",
                )
            )
    script = deploy_script_fix(config)
    if script is not None:
        fixes.append(script)
    return fixes


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "percentages that sum to 100",
            SAFE,
            """
With two literal percentages that do not sum to 100, the second becomes 100 minus the first.
""",
            why="""
Safe: wrangler refuses the command as written, so no working deploy changes.
""",
        ),
        Offer(
            "gradual rollout script",
            SAFE_OR_UNSAFE,
            """
`scripts/deploy-gradual.sh` is created (when absent): it refuses when migrations or exports
changed since the last deployment, runs `wrangler versions upload`, then `wrangler versions
deploy <new>@p <old>@(100-p)` at 10 → 50 → 100 % with a pause and a health-check hook between
stages (rolling back on failure), and documents version affinity
(`Cloudflare-Workers-Version-Key`) and `durable_objects.code_update_strategy`. Where the project
has no rollout path, a `"deploy:gradual": "bash scripts/deploy-gradual.sh"` script is also added
to package.json, inserted on its own line after `"deploy"` (elsewhere at its alphabetical place)
with the file's indentation and line endings. Without a package.json, run
`bash scripts/deploy-gradual.sh`.
""",
            why="""
Safe when only the script is created: a new file nothing runs until someone does, so no existing
behaviour changes. Unsafe with the package.json script (no rollout path before): it changes how
the team deploys.
""",
        ),
    ),
    review="""
Releases that change `migrations`/`exports` still need `wrangler deploy` (the script refuses
them); `Cloudflare-Workers-Version-Key` keeps one client on one version during a rollout;
`durable_objects.code_update_strategy` decides how running objects move to new code.
""",
    not_offered="""
Tags given as version ids and second-binding canaries are reported without an automatic rewrite.
""",
    references=(
        REF_GRADUAL + " (versions upload / versions deploy, version affinity)",
        REF_CHANGELOG + " (2026-08-13: durable_objects.code_update_strategy)",
    ),
)


SPEC = FixSpec(
    "rollout-unsafe", build, tier=TIER_ROLLOUT, label="gradual rollout script", docs=FIX_DOCS
)
