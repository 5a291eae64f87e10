"""rollout-unsafe: wrong `wrangler versions` usage in scripts and CI, and canaries built from a
second Durable Object binding."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_harden.analyzers import safejson
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.reuse import CONFIGS, FILE_PARTS, FileParts
from durable_harden.analyzers.rules._common import (
    REF_CHANGELOG,
    REF_GRADUAL,
    node_span,
    places_of,
)
from durable_harden.analyzers.rules._git import head_version
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import node_text, normalize_expr, walk_type
from durable_harden.analyzers.wrangler import ConfigError, WranglerConfig, load_config

REF_VERSIONS_DEPLOY = "https://developers.cloudflare.com/workers/wrangler/commands/#versions-deploy"

UUID = later(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
# a value the shell or the CI fills in: $ID, ${ID}, $(cmd), ${{ steps.x.outputs.id }}
DYNAMIC = later(r"^(\$|`)|\$\{\{")
SKIPPED_DIRS = {"node_modules", ".git", "dist", ".wrangler", "build", "coverage"}
# flags of `wrangler versions deploy` that take a value
VALUE_FLAGS = {
    "--message",
    "--env",
    "-e",
    "--name",
    "--config",
    "-c",
    "--version-id",
    "--percentage",
}
_ARG = rb"(?:\\\r?\n|\$\{\{[^}\n]*\}\}|\"[^\"\n]*\"|'[^'\n]*'|[^\n;&|\"'`])"
COMMAND = re.compile(
    rb"wrangler(?:@[\w.^~-]+)?[ \t]+versions[ \t]+(deploy|upload)\b(" + _ARG + rb"*)"
)
# YAML folded commands continue on more-indented lines; accept those that start with a flag
COMMAND_YAML = later(
    rb"wrangler(?:@[\w.^~-]+)?[ \t]+versions[ \t]+(deploy|upload)\b((?:"
    + _ARG
    + rb"|\r?\n[ \t]+(?=--?\w))*)"
)

DOCS = RuleDocs(
    what="""
Reads the project's `package.json` scripts, shell scripts and GitHub workflow files for
`wrangler versions deploy` / `wrangler versions upload` and reports:
- a version given by tag or name (`v1.4.0@10`, `latest`): `versions deploy` takes version ids
  (UUIDs, or a shell/CI variable holding one);
- percentages that do not sum to 100, or more than two versions in one deploy;
- `wrangler versions upload` while the wrangler config's `migrations`/`exports` differ from the
  committed version (git HEAD): that upload fails, migrations need `wrangler deploy`;
- a canary built from a second Durable Object binding chosen at random or by hash
  (`Math.random() < 0.1 ? env.ROOM_CANARY : env.ROOM`): two namespaces, two copies of every
  object's storage;
- (info) a Worker that binds Durable Object classes of its own (bindings without
  `script_name`) and has no rollout path: its package.json scripts (its own and enclosing
  folders'), shell scripts or CI workflows deploy with `wrangler deploy` (or
  `cloudflare/wrangler-action`, whose default command it is) and nowhere run
  `wrangler versions upload`/`versions deploy`, and there is no `scripts/deploy-gradual.sh`.
  Only for a Worker that shows signs of production deployment: `routes`/`route` or custom
  domains in its config (top level or any environment), an `[env.production]` (`prod`, `live`)
  section, or a CI workflow that deploys it. A demo, example, fixture or template without those
  signs is not reported (the folder's name alone decides nothing either way), nor is a
  repository with no deploy command at all: how it ships is not visible.
  Reported once per wrangler config, on its `durable_objects` key (suppress it there with a
  comment); each plain deploy found is listed as related.
""",
    why="""
`wrangler versions deploy <version-id>@<pct> [<version-id>@<pct>]` accepts at most two versions
whose percentages sum to 100; anything else fails in the middle of a release. A change to
Durable Object migrations cannot be uploaded as a version (API error 10211) and needs
`wrangler deploy`. During a gradual rollout the platform already pins each object to one
version; routing a share of traffic to a second binding instead sends those requests to
different objects with separate, empty storage. With only `wrangler deploy`, every release
reaches all traffic and every object at once: a bad release cannot be caught at 10 % and
stopped before the rest of the objects run it.
""",
    example="""
```sh
# reported: a tag is not a version id, and 10 + 80 != 100
npx wrangler versions deploy v1.4.0@10 "$OLD_VERSION"@80 -y

# correct
npx wrangler versions deploy "$NEW_VERSION@10" "$OLD_VERSION@90" -y
```
""",
    references=(
        f"{REF_GRADUAL}",
        f"{REF_VERSIONS_DEPLOY}",
        f"{REF_CHANGELOG} (2026-08-13: durable_objects.code_update_strategy)",
        "workers-sdk packages/wrangler/src/versions/deploy.ts (at most 2 versions, sum 100)",
    ),
)


@dataclass
class Command:
    """A `wrangler deploy` or `wrangler versions upload/deploy` command in a script."""

    path: Path
    kind: str  # "deploy" | "upload"
    start: int  # the `wrangler` token
    end: int
    args: list[tuple[str, int, int]]  # token, byte start, byte end (approximate for quoted)


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class RolloutState:
    """What the fixes need: the config whose deploys the finding is about."""

    config: WranglerConfig


def _comment_line(data: bytes, pos: int, suffix: str) -> bool:
    if suffix == ".json":
        return False
    line_start = data.rfind(b"\n", 0, pos) + 1
    return data[line_start:pos].lstrip().startswith(b"#")


def _tokens(data: bytes, start: int, text: bytes) -> list[tuple[str, int, int]]:
    """Shell words with their byte spans (line continuations allowed)."""
    tokens: list[tuple[str, int, int]] = []
    for match in re.finditer(rb"(?:\$\{\{[^}]*\}\}|\"[^\"]*\"|'[^']*'|[^\s\"']+)+", text):
        raw = match.group(0).decode("utf-8", errors="replace")
        if raw == "\\":
            continue
        try:
            words = [raw] if "${{" in raw else shlex.split(raw, posix=True)
        except ValueError:
            words = [raw]
        word = words[0] if words else ""
        tokens.append((word, start + match.start(), start + match.end()))
    return tokens


def commands_in(path: Path, data: bytes) -> Iterator[Command]:
    pattern = COMMAND_YAML() if path.suffix in {".yml", ".yaml"} else COMMAND
    for match in pattern.finditer(data):
        if _comment_line(data, match.start(), path.suffix):
            continue
        args_text = match.group(2)
        yield Command(
            path,
            match.group(1).decode(),
            match.start(),
            match.end(),
            _tokens(data, match.start(2), args_text),
        )


def _pipeline_files(model: ProjectModel, config: WranglerConfig) -> list[Path]:
    """The config's deploy scripts, package.json and CI workflows: listed once per analysis
    (the whole model's memo; the language server runs this rule twice per analysis, and the
    listing walks the Worker's folders)."""
    memo: dict[Path, list[Path]] = getattr(model, "whole", model).memo.setdefault(
        "rollout_pipeline_files", {}
    )
    found = memo.get(config.path)
    if found is None:
        found = memo[config.path] = _list_pipeline_files(model, config)
    return list(found)


def _list_pipeline_files(model: ProjectModel, config: WranglerConfig) -> list[Path]:
    root = config.root
    found: list[Path] = []
    package = root / "package.json"
    if package.is_file():
        found.append(package)
    found.extend(sorted(_shell_scripts(root)))
    folder = root
    while True:
        workflows = folder / ".github" / "workflows"
        if workflows.is_dir():
            found.extend(sorted(p for p in workflows.iterdir() if p.suffix in {".yml", ".yaml"}))
        if (folder / ".git").exists() or folder == model.root or folder.parent == folder:
            break
        folder = folder.parent
    return found


# every byte to a space, a newline kept: bytes.translate does in C what a loop over each byte of
# each package.json did in Python (most of this rule's time on corpus-dev)
_BLANK_BUT_NEWLINES = bytes(0x0A if byte == 0x0A else 0x20 for byte in range(256))


def _shell_scripts(root: Path) -> list[Path]:
    """What `root.rglob("*.sh")` finds outside SKIPPED_DIRS (any entry named so, symbolic links
    not followed), without walking into those folders (a Worker's node_modules and .git were
    walked, then every path under them dropped)."""
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            if name.endswith(".sh"):
                found.append(Path(folder, name))
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
    return found


@functools.lru_cache(maxsize=256)
def _package_scripts_only(path: Path, data: bytes) -> bytes:
    """package.json: blank out everything but the `scripts` values (offsets unchanged). A
    function of its arguments, asked twice per package.json (the deploy commands, the rollout
    path): kept for the last few."""
    try:
        scripts = safejson.loads(data).get("scripts") or {}
    except (ValueError, AttributeError):
        return b""
    keep = bytearray(data.translate(_BLANK_BUT_NEWLINES))
    for value in scripts.values():
        if not isinstance(value, str):
            continue
        encoded = json.dumps(value, ensure_ascii=False)[1:-1].encode()
        at = data.find(b'"' + encoded + b'"')
        if at >= 0:
            keep[at + 1 : at + 1 + len(encoded)] = encoded
            keep[at + 1 + len(encoded)] = 0x0A  # the command ends with the string
    return bytes(keep)


def _deploy_specs(command: Command) -> tuple[list[tuple[str, str | None, int, int]], bool]:
    """(version, percentage or None, start, end) per version; and whether parsing was clean."""
    specs: list[tuple[str, str | None, int, int]] = []
    ids: list[tuple[str, int, int]] = []
    percentages: list[str] = []
    tokens = command.args
    index = 0
    while index < len(tokens):
        word, start, end = tokens[index]
        if word.startswith("-"):
            flag, _, inline = word.partition("=")
            if flag in VALUE_FLAGS:
                value = (
                    inline if inline else (tokens[index + 1][0] if index + 1 < len(tokens) else "")
                )
                if flag == "--version-id":
                    span = (
                        tokens[index + 1]
                        if not inline and index + 1 < len(tokens)
                        else (word, start, end)
                    )
                    ids.append((value, span[1], span[2]))
                elif flag == "--percentage":
                    percentages.append(value)
                index += 1 if inline else 2
                continue
            index += 1
            continue
        version, at, pct = word.partition("@")
        specs.append((version, pct if at else None, start, end))
        index += 1
    for position, (version, start, end) in enumerate(ids):
        flag_pct = percentages[position] if position < len(percentages) else None
        specs.append((version, flag_pct, start, end))
    return specs, True


def _deploy_findings(command: Command) -> Iterator[tuple[str, Span, dict[str, Any]]]:
    specs, _ = _deploy_specs(command)
    whole = Span(command.path, command.start, command.end)
    if not specs:
        return
    for version, _pct, start, end in specs:
        if not version or DYNAMIC().search(version) or UUID().fullmatch(version.strip("\"'")):
            continue
        yield (
            f"`{version}` is not a version id: `wrangler versions deploy` takes the UUID that "
            "`wrangler versions upload` printed (tags only label versions at upload time).",
            Span(command.path, start, end),
            {"problem": "tag-as-version"},
        )
    if len(specs) > 2:
        yield (
            f"`wrangler versions deploy` with {len(specs)} versions: at most two versions can "
            "serve traffic at once.",
            whole,
            {"problem": "too-many-versions"},
        )
    literal = [pct for _, pct, _, _ in specs]
    if all(p is not None and re.fullmatch(r"\d+(\.\d+)?", p) for p in literal):
        total = sum(float(p) for p in literal if p is not None)
        if abs(total - 100) > 1e-9:
            data: dict[str, Any] = {"problem": "percentages", "total": total}
            positional = all(
                "@" in command.path.read_bytes()[start:end].decode(errors="replace")
                for _, _, start, end in specs
            )
            if (
                positional
                and len(specs) == 2
                and literal[0] is not None
                and 0 <= float(literal[0]) <= 100
            ):
                version, pct, start, end = specs[1]
                fixed = 100 - float(literal[0])
                data["replace"] = [start, end, f"{version}@{fixed:g}", f"{version}@{pct}"]
            yield (
                f"Percentages of `wrangler versions deploy` sum to {total:g}, not 100.",
                whole,
                data,
            )


def _class_declarations(config: WranglerConfig) -> str:
    sections = [{"m": config.values.get("migrations"), "e": config.values.get("exports")}]
    for name, env in sorted(config.envs.items()):
        sections.append({"env": name, "m": env.get("migrations"), "e": env.get("exports")})
    return json.dumps(sections, sort_keys=True, default=str)


def _migrations_changed(config: WranglerConfig) -> bool | None:
    committed = head_version(config.path)
    if committed is None:
        return None
    try:
        before = load_config(config.path, committed)
    except ConfigError:
        return None
    return _class_declarations(before) != _class_declarations(config)


def _two_in(needles: list[bytes], file: SourceFile) -> bool:
    """At least two of `needles` occur in the file's text (their places kept in its memo:
    the language server asks on every keystroke, and a re-parsed file searches only around
    the edit)."""
    seen = 0
    for needle in needles:
        if places_of(file, needle):
            seen += 1
            if seen == 2:
                return True
    return False


# a branch of a canary ternary ends with `env.NAME` (`?.`, `!.` and spaces allowed)
_MEMBER_NAME = re.compile(rb"\.\s*([A-Za-z_$][\w$]*)")


# the bytes a `.name` member access spans after its dot (spaces, then the name)
_MEMBER_TAIL = frozenset(
    b" \t\n\r\f\v$_" + bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123))
)
_MEMBERS_MEMO = "rollout-unsafe:member_names"


def member_names(file: SourceFile) -> Counter[bytes]:
    """How often each name follows a `.` in the file's text (`_MEMBER_NAME`), kept in its memo.
    A re-parsed file's are its previous version's with the edit's neighbourhood counted again:
    a match is a dot and then only spaces and name bytes, so the matches touching the edit lie
    between the nearest bytes outside those on either side (the language server asks on every
    keystroke in a monorepo, where the whole 200 KB text was scanned each time, ~0.5 ms)."""
    found: Counter[bytes] | None = file.memo.get(_MEMBERS_MEMO)
    if found is not None:
        return found
    previous = file.memo.get("previous")
    old = previous.file.memo.get(_MEMBERS_MEMO) if previous is not None else None
    if old is None or previous is None:
        found = Counter(_MEMBER_NAME.findall(file.data))
    else:
        before, after = previous.file.data, file.data
        lo = previous.start
        while lo > 0 and before[lo - 1] in _MEMBER_TAIL:
            lo -= 1
        if lo > 0 and before[lo - 1] == 0x2E:  # the dot a match starts with
            lo -= 1
        hi = previous.old_end
        while hi < len(before) and before[hi] in _MEMBER_TAIL:
            hi += 1
        delta = previous.new_end - previous.old_end
        found = old.copy()
        found.subtract(_MEMBER_NAME.findall(before, lo, hi))
        found.update(_MEMBER_NAME.findall(after, lo, hi + delta))
    file.memo[_MEMBERS_MEMO] = found
    return found


_BOUND: dict[int, tuple[WranglerConfig, dict[str, str], list[bytes]]] = {}


def _bound_names(config: WranglerConfig) -> tuple[WranglerConfig, dict[str, str], list[bytes]]:
    """(config, binding name -> class name, the names as bytes), kept for the last few config
    objects (the language server's model keeps a config's object while its bytes are the
    same; a monorepo's has hundreds of bindings)."""
    known = _BOUND.get(id(config))
    if known is None or known[0] is not config:
        bound_names = {b.name: b.class_name for b in config.bindings}
        known = _BOUND[id(config)] = (config, bound_names, [n.encode() for n in bound_names])
        while len(_BOUND) > 16:
            _BOUND.pop(next(iter(_BOUND)))
    return known


def _canary_findings(model: ProjectModel) -> Iterator[Finding]:
    by_config: dict[int, tuple[WranglerConfig, dict[str, str], list[bytes]]] = {}
    for file in model.files:
        config = model.config_for_path(file.path)
        if config is None:
            continue
        known = by_config.get(id(config))
        if known is None or known[0] is not config:  # once per config, not per file
            known = by_config[id(config)] = _bound_names(config)
        bound = known[1]
        data = file.data
        if len(bound) > 8:
            # many bindings (a monorepo's config): one pass for the names that follow a `.`,
            # not a search of the whole text per binding (664 bindings: 34 -> 5 ms per file)
            members = member_names(file)
            enough = sum(1 for name in known[2] if members.get(name)) >= 2
        else:
            enough = _two_in(known[2], file)
        if not enough:
            # both branches name a different binding: without two of the names in the text
            # there is no such ternary (and no walk of every node type of a big edited file)
            continue
        for cond in walk_type(file.root, "ternary_expression"):
            yes = cond.child_by_field_name("consequence")
            no = cond.child_by_field_name("alternative")
            test = cond.child_by_field_name("condition")
            if yes is None or no is None or test is None:
                continue
            names = []
            for branch in (yes, no):
                text = normalize_expr(node_text(data, branch))
                names.append(
                    text.rsplit(".", 1)[-1]
                    if ".env." in f".{text}" or text.startswith("env.")
                    else ""
                )
            if not all(n in bound for n in names) or names[0] == names[1]:
                continue
            test_text = node_text(data, test)
            if not re.search(r"random|hash|%|canary|percent|bucket|rollout", test_text, re.I):
                continue
            yield RULE.finding(
                "second-binding-canary",
                f"Canary by a second Durable Object binding (`{names[0]}` / `{names[1]}`): the "
                "two namespaces hold separate objects, so the canary share of traffic sees other "
                "storage. Ship one binding and roll out with `wrangler versions deploy`; the "
                "platform pins each object to one version.",
                node_span(file, cond),
                data={"problem": "second-binding-canary", "config": str(config.path)},
                state=RolloutState(config),
            )


# -- production Durable Objects with no rollout path -------------------------------------------
GRADUAL_SCRIPT = Path("scripts") / "deploy-gradual.sh"
# `wrangler deploy` itself (not `wrangler versions deploy`): every request and every object on
# the new code at once
PLAIN_DEPLOY = re.compile(rb"wrangler(?:@[\w.^~-]+)?[ \t]+deploy\b(" + _ARG + rb"*)")


def _rollout_files(model: ProjectModel, config: WranglerConfig) -> list[Path]:
    """The config's pipeline files, plus the package.json of each enclosing folder up to the
    repository (a monorepo's root scripts may run the Worker's deploy)."""
    found = _pipeline_files(model, config)
    folder = config.root
    while not (folder / ".git").exists() and folder != model.root and folder.parent != folder:
        folder = folder.parent
        package = folder / "package.json"
        if package not in found and model.read(package) is not None:
            found.append(package)
    return found


# cloudflare/wrangler-action runs `wrangler deploy` unless its `command:` says otherwise (the
# command is given without the `wrangler` word: `command: versions upload`)
WRANGLER_ACTION = later(rb"uses:[ \t]*['\"]?(cloudflare/wrangler-action@[\w.\-]+)")
ACTION_VERSIONS = re.compile(rb"command:[ \t]*[|>]?[-+]?\s*versions[ \t]+(?:upload|deploy)\b")


def _plain_deploys(path: Path, scan: bytes) -> Iterator[Span]:
    for match in PLAIN_DEPLOY.finditer(scan):
        if _comment_line(scan, match.start(), path.suffix) or b"--dry-run" in match.group(1):
            continue
        yield Span(path, match.start(), match.end(1) if match.group(1).strip() else match.end())
    if path.suffix in {".yml", ".yaml"}:
        for match in WRANGLER_ACTION().finditer(scan):
            if not _comment_line(scan, match.start(), path.suffix):
                yield Span(path, match.start(1), match.end(1))


def _has_gradual_flow(model: ProjectModel, config: WranglerConfig) -> tuple[bool, list[Span]]:
    """(whether any `wrangler versions upload/deploy` or the generated script exists; the plain
    `wrangler deploy` commands found meanwhile)."""
    if model.read(config.root / GRADUAL_SCRIPT) is not None:
        return True, []
    plain: list[Span] = []
    for path in _rollout_files(model, config):
        data = model.read(path)
        if data is None:
            continue
        scan = _package_scripts_only(path, data) if path.name == "package.json" else data
        if next(commands_in(path, scan), None) is not None or ACTION_VERSIONS.search(scan):
            return True, []
        plain.extend(_plain_deploys(path, scan))
    return False, plain


def _key_span(config: WranglerConfig, path: tuple[str | int, ...]) -> Span:
    """The key of `path` on its first line (`"durable_objects"`, `[[durable_objects.bindings]]`)."""
    located = config.spans.get(path)
    if located is None:
        return config.span(path, value=False)
    start, end = located.pair
    if located.value != located.pair:
        end = min(end, located.value[0])
    line_end = config.data.find(b"\n", start)
    if line_end >= 0:
        end = min(end, line_end)
    while end > start and config.data[end - 1 : end] in (b" ", b"\t", b":", b"=", b"\r"):
        end -= 1
    return Span(config.path, start, end)


PRODUCTION_ENVS = frozenset({"production", "prod", "live"})


def production_signs(config: WranglerConfig, plain: list[Span]) -> list[str]:
    """What shows that the Worker is deployed to production, not only tried out: routes or
    custom domains, an `env.production` (`prod`, `live`) section, a CI workflow that deploys.
    A folder name (examples/, fixtures/, templates/) is no sign either way."""
    signs: list[str] = []
    scopes: list[tuple[str, dict[str, Any]]] = [("", config.values)]
    scopes += [(f"env.{name}.", env) for name, env in sorted(config.envs.items())]
    for prefix, scope in scopes:
        for key in ("routes", "route"):
            value = scope.get(key)
            if value:
                custom = isinstance(value, list) and any(
                    isinstance(item, dict) and item.get("custom_domain") for item in value
                )
                signs.append(f"{'custom domains' if custom else 'routes'} ({prefix}{key})")
    for name in sorted(config.envs):
        if name.lower() in PRODUCTION_ENVS:
            signs.append(f"an `env.{name}` section")
    if any(".github" in span.path.parts for span in plain):
        signs.append("a CI workflow that deploys")
    return signs


def _no_rollout_path_findings(model: ProjectModel) -> Iterator[Finding]:
    for config in model.configs:
        own = [b for b in config.bindings if b.script_name is None]
        if not own:
            continue
        gradual, plain = _has_gradual_flow(model, config)
        if gradual or not plain:  # no deploy in the repository: how it ships is not ours to know
            continue
        signs = production_signs(config, plain)
        if not signs:  # a demo, an example, a template: a rollout nag there is noise
            continue
        scope = own[0].path[: own[0].path.index("durable_objects") + 1]
        key = scope if scope in config.spans else (*scope, "bindings")
        classes = ", ".join(sorted({b.class_name for b in own}))
        yield RULE.finding(
            "no-rollout-path",
            f"{config.name or config.root.name} runs Durable Objects ({classes}) in production "
            f"({', '.join(signs)}) and has no gradual rollout path: its package.json, scripts and CI deploy with "
            "`wrangler deploy` and never `wrangler versions upload` / `versions deploy`, so "
            "every release reaches all traffic and every object at once. Add "
            "scripts/deploy-gradual.sh (upload a version, then 10 → 50 → 100 % with health "
            "checks).",
            _key_span(config, key),
            related=[
                Related(span, "deploys everything at once (`wrangler deploy`)") for span in plain
            ],
            data={
                "kind": "no-rollout-path",
                "problem": "no-rollout-path",
                "config": str(config.path),
            },
            severity=Severity.INFO,
            state=RolloutState(config),
        )


def check(model: ProjectModel) -> Iterator[Finding]:
    yield from _deploy_command_findings(model)
    yield from _canary_findings(model)
    yield from _no_rollout_path_findings(model)


def _outside_source_files(model: ProjectModel) -> Iterator[Finding]:
    """The findings `check` makes outside the model's source files: in deploy scripts,
    package.json files, CI workflows (the commands) and wrangler configs (no rollout path)."""
    yield from _deploy_command_findings(model)
    yield from _no_rollout_path_findings(model)


def _deploy_command_findings(model: ProjectModel) -> Iterator[Finding]:
    seen: set[Path] = set()
    for config in model.configs:
        changed: bool | None = None
        for path in _pipeline_files(model, config):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            scan = _package_scripts_only(path, data) if path.name == "package.json" else data
            for command in commands_in(path, scan):
                if command.kind == "deploy" and path not in seen:
                    for message, span, extra in _deploy_findings(command):
                        yield RULE.finding(
                            extra["problem"],
                            message,
                            span,
                            data={**extra, "config": str(config.path)},
                            state=RolloutState(config),
                        )
                elif command.kind == "upload":
                    if changed is None:
                        changed = bool(_migrations_changed(config))
                    if changed:
                        yield RULE.finding(
                            "upload-with-migrations",
                            "`wrangler versions upload` while `migrations`/`exports` in "
                            f"{config.path.name} differ from git HEAD: the upload fails (error "
                            "10211); deploy a migration with `wrangler deploy`.",
                            Span(path, command.start, command.end),
                            related=[
                                Related(config.span(("migrations",), value=False), "migrations")
                            ],
                            data={"problem": "upload-with-migrations", "config": str(config.path)},
                            state=RolloutState(config),
                        )
            seen.add(path)


RULE = Rule(
    id="rollout-unsafe",
    title="A deployment that cannot roll out gradually as written",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "second-binding-canary": "a canary by a second Durable Object binding, whose objects hold other storage",
        "no-rollout-path": "a production project that deploys every release to all traffic at once",
        "tag-as-version": "wrangler versions deploy given a tag instead of a version id",
        "too-many-versions": "wrangler versions deploy with more than two versions",
        "percentages": "wrangler versions deploy percentages that do not sum to 100",
        "upload-with-migrations": "wrangler versions upload while migrations/exports differ from git HEAD",
    },
)

# The language server publishes the findings of open source files and configs: in a source file
# this rule finds only canary ternaries, which read the file and its config's bindings (not the
# deploy scripts on disk nor git), so they are memoised like any per-file result; the rest
# (deploy scripts, package.json, CI workflows, configs) runs only while a config is open
FILE_PARTS[RULE.id] = FileParts(
    in_sources=_canary_findings,
    facts=CONFIGS,
    elsewhere=_outside_source_files,
    reason="canary ternaries are the only findings in source files; the deploy commands land "
    "in pipeline files (never published) and no-rollout-path in the wrangler config",
)
