"""Fixes for rollout-unsafe: the percentage syntax, and `scripts/deploy-gradual.sh`."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from analyzers.findings import Finding
from analyzers.model import ProjectModel
from analyzers.wrangler import WranglerConfig
from codeactions.fix import Edit, Fix, NewFile, Safety

TEMPLATES = Path(__file__).resolve().parent / "templates"
SCRIPT = Path("scripts") / "deploy-gradual.sh"


@cache
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def deploy_script(config: WranglerConfig) -> str:
    """The gradual-deployment script for one Worker, for `<config root>/scripts/`."""
    name = config.name or config.root.name
    tag = "deployed-" + re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    extract = _template("extract-toml.sh" if config.format == "toml" else "extract-json.sh")
    up = os.path.relpath(config.root, config.root / SCRIPT.parent).replace(os.sep, "/")
    text = _template("deploy-gradual.sh")
    for key, value in {
        "@@EXTRACT@@": extract.rstrip("\n"),
        "@@NAME@@": name,
        "@@CONFIG@@": config.path.name,
        "@@TAG@@": tag,
        "@@UP@@": up,
    }.items():
        text = text.replace(key, value)
    return text


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


def _config(model: ProjectModel, finding: Finding) -> WranglerConfig | None:
    wanted = str(finding.data.get("config", ""))
    return next((c for c in model.configs if str(c.path) == wanted), None)


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
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
    config = _config(model, finding)
    if config is not None:
        script = deploy_script_fix(config)
        if script is not None:
            fixes.append(script)
    return fixes


BUILDERS = {"rollout-unsafe": build}
