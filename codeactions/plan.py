"""The workspace plan behind "Harden all Durable Objects" (and `check --fix`).

Pure: paths (+ unsaved editor buffers) in, a `HardenPlan` out: which fixes were applied in which
order, the resulting bytes of every file, and what was left and why. Nothing is written here;
`server/writer.py` (CLI) or a `workspace/applyEdit` (language server) puts it on disk.

How a plan is made, round by round (a fix may enable another, so we iterate to a fixed point):
1. analyse the current state of the workspace ONCE (one model), collect every finding and the
   fixes its builders offer (`codeactions.fixes_for`);
2. order findings by priority tier (data growth and correctness, hibernation, indexes, other,
   rollout), then severity, file and offset; for each finding take its first allowed fix
   (safe, or unsafe when asked; builders list their preferred fix first);
3. accept fixes greedily in that order: identical edits and identical new files are merged;
   a fix whose edits overlap an accepted edit, or that inserts at the same point as an accepted
   fix of another rule, is deferred to the next round, when its builder sees the accepted change
   and can merge with it (the TTL cleanup and a moved timer share one `alarm()`);
4. apply the accepted edits per file (`apply_edits`, which refuses overlaps) and check every
   touched file: TypeScript must gain no tree-sitter ERROR node and no duplicate class member,
   wrangler configs and JSON must still load. A fix that breaks a file is rolled back alone;
5. repeat until a round applies nothing (or MAX_ROUNDS). Running the plan on its own output
   therefore finds nothing to do.

Everything is sorted by stable keys, so the same input gives byte-identical output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from durable_harden.analyzers import safejson
from durable_harden.analyzers.analysis import (
    Settings,
    Workspace,
    analyse_within_budget,
    run_rules,
    workspace_for,
)
from durable_harden.analyzers.findings import Finding, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.source import SourceError, language_for, parse_source
from durable_harden.analyzers.tsutil import node_text, walk_type
from durable_harden.analyzers.wrangler import CONFIG_NAMES, ConfigError, load_config
from durable_harden.codeactions import fixes_for
from durable_harden.codeactions.fix import Edit, Fix, NewFile, OverlappingEdits, apply_edits

MAX_ROUNDS = 8

# -- priority -----------------------------------------------------------------------------------
TIER_NAMES = (
    "data growth and correctness",
    "hibernation",
    "indexes",
    "other",
    "rollout",
)
TIER_CORRECTNESS, TIER_HIBERNATION, TIER_INDEXES, TIER_OTHER, TIER_ROLLOUT = range(5)

RULE_TIERS: dict[str, int] = {
    # data growth and correctness: data that grows forever, code that fails or loses data
    "unbounded-table-growth": TIER_CORRECTNESS,
    "schema-change-without-migration": TIER_CORRECTNESS,
    "sql-transaction-statement": TIER_CORRECTNESS,
    "sql-pragma-not-allowed": TIER_CORRECTNESS,
    "sql-bindings-mismatch": TIER_CORRECTNESS,
    "sql-too-many-params": TIER_CORRECTNESS,
    "sql-interpolation": TIER_CORRECTNESS,
    "sql-unbounded-read": TIER_CORRECTNESS,
    "kv-unbounded-list": TIER_CORRECTNESS,
    "serialize-attachment-misuse": TIER_CORRECTNESS,
    "setalarm-without-handler": TIER_CORRECTNESS,
    "deleteall-leaves-alarm": TIER_CORRECTNESS,
    "websocket-close-handshake": TIER_CORRECTNESS,
    "id-name-undefined": TIER_CORRECTNESS,
    "unawaited-rpc": TIER_CORRECTNESS,
    "class-not-exported": TIER_CORRECTNESS,
    "binding-missing-migration": TIER_CORRECTNESS,
    "migration-history-edited": TIER_CORRECTNESS,
    "kv-backed-class": TIER_CORRECTNESS,
    "rpc-compat-date": TIER_CORRECTNESS,
    # hibernation: what keeps an idle object awake or loses its in-memory state
    "timer-blocks-hibernation": TIER_HIBERNATION,
    "websocket-not-hibernatable": TIER_HIBERNATION,
    "websocket-state-in-memory": TIER_HIBERNATION,
    "websocket-manual-ping": TIER_HIBERNATION,
    "alarm-unconditional-in-constructor": TIER_HIBERNATION,
    "alarm-shared-by-purposes": TIER_HIBERNATION,
    "alarm-retry-suppressed": TIER_HIBERNATION,
    # indexes
    "sql-missing-index": TIER_INDEXES,
    # rollout
    "rollout-unsafe": TIER_ROLLOUT,
}


def tier_of(rule_id: str, severity: Severity | None = None) -> int:
    """A rule's priority tier; unknown rules: errors are correctness, the rest 'other'."""
    if rule_id in RULE_TIERS:
        return RULE_TIERS[rule_id]
    if severity is not None and severity >= Severity.ERROR:
        return TIER_CORRECTNESS
    return TIER_OTHER


def finding_order(finding: Finding) -> tuple[int, int, str, int, str]:
    return (
        tier_of(finding.rule_id, finding.severity),
        -int(finding.severity),
        str(finding.span.path),
        finding.span.start,
        finding.rule_id,
    )


# -- the plan -----------------------------------------------------------------------------------
# Why a finding was left: the `status` of a Leftover.
UNSAFE_NOT_REQUESTED = "unsafe"  # an unsafe fix exists; not applied without --unsafe-fixes
NO_FIX = "no-fix"  # no automatic fix: needs a person
CONFLICT = "conflict"  # its fix overlapped a higher-priority fix that was applied
BREAKS_FILE = "breaks-file"  # its fix would leave a file unparsable: rolled back
NOT_CONVERGED = "not-converged"  # still fixable when the round limit was reached

STATUS_LABELS = {
    UNSAFE_NOT_REQUESTED: "unsafe fix not applied (use --unsafe-fixes)",
    NO_FIX: "no automatic fix",
    CONFLICT: "skipped: conflicts with a higher-priority fix",
    BREAKS_FILE: "rolled back: the fix would break the file",
    NOT_CONVERGED: "not applied: round limit reached",
}


@dataclass
class AppliedFix:
    finding: Finding
    fix: Fix
    tier: int
    round: int
    class_name: str | None
    merged: list[Finding] = field(default_factory=list)  # other findings the same fix resolved

    @property
    def rule_id(self) -> str:
        return self.fix.rule_id or self.finding.rule_id

    @property
    def priority(self) -> str:
        return TIER_NAMES[self.tier]


@dataclass
class Leftover:
    finding: Finding
    status: str
    class_name: str | None
    fix: Fix | None = None
    detail: str = ""

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


@dataclass
class HardenPlan:
    root: Path
    unsafe: bool
    applied: list[AppliedFix]
    leftovers: list[Leftover]
    original: dict[Path, bytes | None]  # before-bytes of every touched file (None: new file)
    contents: dict[Path, bytes]  # after-bytes of every touched file
    rounds: int
    converged: bool
    findings_before: int
    notes: list[str] = field(default_factory=list)  # what harden added besides fixes
    generated: dict[Path, str] = field(default_factory=dict)  # path -> why it was produced
    problems: list[str] = field(default_factory=list)

    # -- views ---------------------------------------------------------------------------------
    def changes(self) -> dict[Path, tuple[bytes | None, bytes]]:
        """Every file whose bytes change: path -> (before or None when created, after)."""
        return {
            path: (self.original.get(path), data)
            for path, data in sorted(self.contents.items(), key=lambda kv: str(kv[0]))
            if self.original.get(path) != data
        }

    @property
    def created(self) -> list[Path]:
        return [p for p, (before, _) in self.changes().items() if before is None]

    @property
    def modified(self) -> list[Path]:
        return [p for p, (before, _) in self.changes().items() if before is not None]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes())

    def line_stats(self) -> dict[Path, tuple[int, int]]:
        """path -> (lines added, lines removed), as a unified diff counts them."""
        import difflib

        stats: dict[Path, tuple[int, int]] = {}
        for path, (before, after) in self.changes().items():
            old = (before or b"").decode("utf-8", "replace").splitlines()
            new = after.decode("utf-8", "replace").splitlines()
            added = removed = 0
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
                None, old, new, autojunk=False
            ).get_opcodes():
                if tag in ("replace", "delete"):
                    removed += i2 - i1
                if tag in ("replace", "insert"):
                    added += j2 - j1
            stats[path] = (added, removed)
        return stats

    def left_for_review(self) -> list[Leftover]:
        return [lo for lo in self.leftovers if lo.finding.rule_id != "unused-suppression"]

    def applied_unsafe(self) -> list[AppliedFix]:
        return [a for a in self.applied if not a.fix.is_safe]

    def classes(self) -> list[str]:
        names = {a.class_name or "" for a in self.applied} | {
            lo.class_name or "" for lo in self.leftovers
        }
        return sorted(names, key=lambda n: (n == "", n))

    def digest(self) -> str:
        """A stable fingerprint of the result (same input -> same digest)."""
        h = hashlib.sha256()
        for path, (_, after) in self.changes().items():
            h.update(str(path).encode())
            h.update(b"\0")
            h.update(after)
            h.update(b"\0")
        return h.hexdigest()


class Cancelled(Exception):
    """The caller asked to stop; nothing has been written (a plan is pure)."""


# -- the workspace as bytes ---------------------------------------------------------------------
class _State:
    """The current bytes of the workspace: disk, overridden by editor buffers and by our edits."""

    def __init__(self, overlays: Mapping[Path, bytes]) -> None:
        self.overlays: dict[Path, bytes] = {p.resolve(): d for p, d in overlays.items()}
        self.changed: dict[Path, bytes] = {}
        self.original: dict[Path, bytes | None] = {}

    def read(self, path: Path) -> bytes | None:
        if path in self.changed:
            return self.changed[path]
        if path in self.overlays:
            return self.overlays[path]
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def write(self, path: Path, data: bytes) -> None:
        if path not in self.original:
            self.original[path] = self.read(path)
        self.changed[path] = data

    def view(self) -> dict[Path, bytes]:
        return {**self.overlays, **self.changed}

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for path in sorted(self.changed, key=str):
            h.update(str(path).encode() + b"\0" + self.changed[path] + b"\0")
        return h.hexdigest()


def analyse(ws: Workspace, state: _State) -> tuple[ProjectModel, list[Finding]]:
    """One model of the current state, and the findings in the requested paths."""
    sources = list(ws.sources)
    configs = list(ws.configs)
    for path in sorted(state.changed, key=str):
        if not any(path == r or r in path.parents for r in ws.roots):
            continue
        if path.name in CONFIG_NAMES:
            if path not in configs:
                configs.append(path)
        elif language_for(path) is not None and path not in sources:
            sources.append(path)
    view = state.view()
    model, findings, _ = analyse_within_budget(
        ws.root, sources, configs, ws.settings, ws.reported, view, rules_runner=run_rules
    )
    return model, findings


# -- attribution --------------------------------------------------------------------------------
def class_of(finding: Finding, model: ProjectModel) -> str | None:
    """The Durable Object class a finding belongs to (rules name it in data['class'])."""
    named = finding.data.get("class") if isinstance(finding.data, dict) else None
    if isinstance(named, str) and named:
        return named
    for cls in model.classes:
        if cls.file.path == finding.span.path and (
            cls.node.start_byte <= finding.span.start < cls.node.end_byte
        ):
            return cls.name
    return None


# -- one round ----------------------------------------------------------------------------------
def _edit_key(edit: Edit) -> tuple[str, int, int, str]:
    return (str(edit.path), edit.start, edit.end, edit.new_text)


def _fix_key(fix: Fix) -> tuple[object, ...]:
    return (
        tuple(sorted(_edit_key(e) for e in fix.edits)),
        tuple(sorted((str(c.path), c.content) for c in fix.creates)),
    )


def _normalise(fix: Fix) -> Fix:
    """Resolved paths, so edits from different builders compare equal."""
    resolved = {p: p.resolve() for p in {e.path for e in fix.edits}}  # one lookup per file
    fix.edits = [Edit(resolved[e.path], e.start, e.end, e.new_text) for e in fix.edits]
    fix.creates = [NewFile(c.path.resolve(), c.content) for c in fix.creates]
    return fix


@dataclass
class _Accepted:
    finding: Finding
    fix: Fix
    edits: list[Edit]  # the edits not already accepted (identical ones merged away)
    creates: list[NewFile]
    merged: list[Finding] = field(default_factory=list)


def _conflict(edit: Edit, other: Edit, same_rule: bool) -> bool:
    if edit.path != other.path or _edit_key(edit) == _edit_key(other):
        return False
    a0, a1, b0, b1 = edit.start, edit.end, other.start, other.end
    if a0 < b1 and b0 < a1:  # the replaced ranges intersect
        return True
    if (a0 == a1 and b0 < a0 < b1) or (b0 == b1 and a0 < b0 < a1):  # insertion inside a replacement
        return True
    if a0 == a1 == b0 == b1:  # two insertions at one point: only one rule's may share it
        return not same_rule
    return False


class _Round:
    def __init__(self, state: _State, model: ProjectModel) -> None:
        self.state = state
        self.model = model
        self.accepted: list[_Accepted] = []
        self.edits: list[tuple[Edit, str]] = []  # accepted edit, its rule
        self.creates: dict[Path, str] = {}

    def why_not(self, fix: Fix) -> str | None:
        """None when the fix can join this round, else why not."""
        rule = fix.rule_id
        for edit in fix.edits:
            data = self.state.read(edit.path)
            if data is None or edit.path in self.creates:
                return f"{edit.path.name} does not exist (yet)"
            if not (0 <= edit.start <= edit.end <= len(data)):
                return f"edit {edit.start}-{edit.end} leaves {edit.path.name}"
            for other, other_rule in self.edits:
                if _conflict(edit, other, rule == other_rule):
                    return f"overlaps another edit in {edit.path.name}"
        for create in fix.creates:
            existing = self.state.read(create.path)
            if existing is not None and existing != create.content.encode("utf-8"):
                return f"{create.path.name} already exists with other content"
            if create.path in self.creates and self.creates[create.path] != create.content:
                return f"another fix creates {create.path.name} differently"
            if any(e.path == create.path for e, _ in self.edits):
                return f"another fix edits {create.path.name}"
        return None

    def accept(self, finding: Finding, fix: Fix) -> _Accepted:
        known = {_edit_key(e) for e, _ in self.edits}
        fresh = [e for e in fix.edits if _edit_key(e) not in known]
        creates = [
            c for c in fix.creates if c.path not in self.creates and self.state.read(c.path) is None
        ]
        entry = _Accepted(finding, fix, fresh, creates)
        self.accepted.append(entry)
        self.edits.extend((e, fix.rule_id) for e in fresh)
        for create in creates:
            self.creates[create.path] = create.content
        return entry

    def result(self, entries: list[_Accepted]) -> dict[Path, bytes]:
        """New bytes of every file the given accepted fixes touch."""
        per_file: dict[Path, list[Edit]] = {}
        created: dict[Path, bytes] = {}
        for entry in entries:
            for edit in entry.edits:
                per_file.setdefault(edit.path, []).append(edit)
            for create in entry.creates:
                created[create.path] = create.content.encode("utf-8")
        out: dict[Path, bytes] = dict(created)
        for path, edits in per_file.items():
            data = self.state.read(path)
            assert data is not None
            out[path] = apply_edits(data, edits)
        return out


def _duplicate_members(data: bytes, path: Path) -> set[tuple[str, str]]:
    try:
        source = parse_source(path, data)
    except SourceError:
        return set()
    dupes: set[tuple[str, str]] = set()
    for body in walk_type(source.root, "class_body"):
        owner = body.parent
        name_node = owner.child_by_field_name("name") if owner is not None else None
        owner_name = node_text(data, name_node) if name_node is not None else "?"
        seen: set[str] = set()
        for member in body.named_children:
            if member.type not in ("method_definition", "public_field_definition"):
                continue
            if member.type == "method_definition" and member.child_by_field_name("body") is None:
                continue  # an overload signature
            name = member.child_by_field_name("name")
            if name is None:
                continue
            accessor = next((c.type for c in member.children if c.type in ("get", "set")), "")
            static = "static " if any(c.type == "static" for c in member.children) else ""
            key = f"{static}{accessor} {node_text(data, name)}"
            if key in seen:
                dupes.add((owner_name, key))
            seen.add(key)
    return dupes


def _breakage(path: Path, before: bytes | None, after: bytes) -> str | None:
    """Why `after` is worse than `before` for this kind of file, or None."""
    if path.name in CONFIG_NAMES:
        try:
            load_config(path, after)
        except ConfigError as exc:
            return f"{path.name} no longer loads: {exc}"
        return None
    if path.suffix == ".json":
        try:
            safejson.loads(after)
        except ValueError as exc:
            return f"{path.name} is no longer valid JSON: {exc}"
        return None
    if language_for(path) is None:
        return None
    try:
        new = parse_source(path, after)
    except SourceError as exc:
        return str(exc)
    old_errors = 0
    if before is not None:
        try:
            old_errors = len(parse_source(path, before).error_ranges)
        except SourceError:
            old_errors = 0
    if len(new.error_ranges) > old_errors:
        row = new.lines.row_of(new.error_ranges[0][0]) + 1
        return f"{path.name} would not parse (syntax error at line {row})"
    new_dupes = _duplicate_members(after, path) - (
        _duplicate_members(before, path) if before is not None else set()
    )
    if new_dupes:
        owner, key = sorted(new_dupes)[0]
        return f"{path.name} would declare `{key.strip()}` twice in {owner}"
    return None


def _validate(rnd: _Round, entries: list[_Accepted]) -> tuple[dict[Path, bytes], dict[int, str]]:
    """Apply the entries; roll back (one by one, lowest priority first) those that break files.
    Returns the new bytes and {index in entries: why it was rolled back}."""

    def check(chosen: list[_Accepted]) -> tuple[dict[Path, bytes] | None, str | None]:
        try:
            out = rnd.result(chosen)
        except OverlappingEdits as exc:
            return None, str(exc)
        for path, data in sorted(out.items(), key=lambda kv: str(kv[0])):
            why = _breakage(path, rnd.state.read(path), data)
            if why is not None:
                return None, why
        return out, None

    out, _ = check(entries)
    if out is not None:
        return out, {}
    # something breaks: build up again in priority order, keeping what stays valid
    kept: list[_Accepted] = []
    dropped: dict[int, str] = {}
    result: dict[Path, bytes] = {}
    for index, entry in enumerate(entries):
        trial, why = check([*kept, entry])
        if trial is None:
            dropped[index] = why or "breaks a file"
        else:
            kept.append(entry)
            result = trial
    return result, dropped


# -- the planner --------------------------------------------------------------------------------
def _choose(fixes: list[Fix], unsafe: bool) -> tuple[list[Fix], Fix | None]:
    """(fixes we may apply, in the builder's order; the first unsafe fix held back)."""
    allowed = [f for f in fixes if f.is_safe or unsafe]
    held = next((f for f in fixes if not f.is_safe), None) if not unsafe else None
    return allowed, held


def plan_workspace(
    paths: Iterable[Path],
    *,
    unsafe: bool = False,
    settings: Settings | None = None,
    overlays: Mapping[Path, bytes] | None = None,
    outputs: bool = True,
    max_rounds: int = MAX_ROUNDS,
    rules: Iterable[str] | None = None,
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[str], None] | None = None,
) -> HardenPlan:
    """Plan the hardening of every Durable Object under `paths`.

    unsafe: also apply unsafe fixes (otherwise they are listed with their review notes).
    overlays: unsaved editor buffers (path -> bytes) that win over the disk.
    outputs: also produce the harden extras (per-class tests, vitest set-up, README section);
        `check --fix` passes False.
    rules: restrict the fixes to these rule ids (findings of other rules are still reported).
    cancelled: polled between steps; when it returns True, `Cancelled` is raised (nothing has
        been written: a plan is pure).
    progress: called with a short message per round and per file touched.
    """
    ws = workspace_for(list(paths), settings)
    state = _State(overlays or {})
    only = set(rules) if rules is not None else None

    def poll() -> None:
        if cancelled is not None and cancelled():
            raise Cancelled()

    applied: list[AppliedFix] = []
    leftovers: list[Leftover] = []
    seen_states: set[str] = {state.fingerprint()}
    converged = False
    final_check = False
    findings_before = 0
    rounds = 0
    model: ProjectModel | None = None
    for number in range(1, max_rounds + 1):
        poll()
        rounds = number
        if progress is not None:
            progress(f"round {number}: analysing")
        model, findings = analyse(ws, state)
        if number == 1:
            findings_before = len(findings)
        rnd = _Round(state, model)
        leftovers = []
        by_key: dict[tuple[object, ...], _Accepted] = {}
        ordered = sorted(findings, key=finding_order)
        for finding in ordered:
            poll()
            fixes = fixes_for(finding, model) if only is None or finding.rule_id in only else []
            fixes = [_normalise(f) for f in fixes]
            allowed, held = _choose(fixes, unsafe)
            cls = class_of(finding, model)
            if not allowed:
                status = UNSAFE_NOT_REQUESTED if held is not None else NO_FIX
                leftovers.append(Leftover(finding, status, cls, held, held.review if held else ""))
                continue
            taken = False
            reasons: list[str] = []
            for fix in allowed:
                if not fix.edits and not fix.creates:
                    continue
                same = by_key.get(_fix_key(fix))
                if same is not None:
                    same.merged.append(finding)
                    taken = True
                    break
                why = rnd.why_not(fix)
                if why is None:
                    by_key[_fix_key(fix)] = rnd.accept(finding, fix)
                    taken = True
                    break
                reasons.append(why)
            if not taken:
                leftovers.append(
                    Leftover(finding, CONFLICT, cls, allowed[0], "; ".join(reasons) or "")
                )
        if not rnd.accepted:
            converged = True
            final_check = False
            break
        new_bytes, dropped = _validate(rnd, rnd.accepted)
        for index, entry in enumerate(rnd.accepted):
            cls = class_of(entry.finding, model)
            if index in dropped:
                leftovers.append(
                    Leftover(entry.finding, BREAKS_FILE, cls, entry.fix, dropped[index])
                )
                continue
            applied.append(
                AppliedFix(
                    finding=entry.finding,
                    fix=entry.fix,
                    tier=tier_of(entry.finding.rule_id, entry.finding.severity),
                    round=number,
                    class_name=cls,
                    merged=list(entry.merged),
                )
            )
        if not new_bytes:
            # everything this round was rolled back: nothing else will change
            converged = True
            final_check = False
            break
        final_check = True
        for path in sorted(new_bytes, key=str):
            if progress is not None:
                progress(f"round {number}: {path.name}")
            state.write(path, new_bytes[path])
        fingerprint = state.fingerprint()
        if fingerprint in seen_states:  # fixes undo each other: stop rather than loop
            break
        seen_states.add(fingerprint)
    if final_check:
        # the last round applied fixes (round limit, or fixes undoing each other): what is left?
        model, findings = analyse(ws, state)
        leftovers = []
        for finding in sorted(findings, key=finding_order):
            fixes = fixes_for(finding, model) if only is None or finding.rule_id in only else []
            allowed, held = _choose(fixes, unsafe)
            cls = class_of(finding, model)
            if allowed:
                leftovers.append(Leftover(finding, NOT_CONVERGED, cls, allowed[0]))
            else:
                status = UNSAFE_NOT_REQUESTED if held is not None else NO_FIX
                leftovers.append(Leftover(finding, status, cls, held, held.review if held else ""))
        converged = not any(lo.status == NOT_CONVERGED for lo in leftovers)

    # findings whose fix was dropped in an earlier round and that are still there
    leftovers.sort(key=lambda lo: (*finding_order(lo.finding), lo.status))
    plan = HardenPlan(
        root=ws.root,
        unsafe=unsafe,
        applied=applied,
        leftovers=leftovers,
        original=dict(state.original),
        contents=dict(state.changed),
        rounds=rounds,
        converged=converged,
        findings_before=findings_before,
    )
    if model is not None:
        plan.problems = sorted({f"{p.path}: {p.message}" for p in model.problems})
    if outputs and applied:
        poll()
        from durable_harden.codeactions.harden_outputs import add_outputs

        final_model, _ = analyse(ws, state)
        add_outputs(plan, final_model, state.read)
        if progress is not None:
            progress("generated tests, README section")
    return plan


def minimal_edits(before: bytes, after: bytes) -> list[tuple[int, int, str]]:
    """The change from `before` to `after` as (start, end, new text) hunks in `before`'s UTF-8
    byte offsets, line-granular and in order: what an editor needs to apply a planned file
    without replacing it whole (the language server converts the offsets to positions)."""
    import difflib

    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    starts = [0]
    for line in old:
        starts.append(starts[-1] + len(line))
    hunks: list[tuple[int, int, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        text = b"".join(new[j1:j2]).decode("utf-8")
        hunks.append((starts[i1], starts[i2], text))
    return hunks
