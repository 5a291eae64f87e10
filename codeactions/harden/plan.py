"""The workspace plan behind "Harden all Durable Objects" (and `check --fix`): the fixes.

`codeactions.harden.harden()` adds the outputs (generated tests, README section) on top; this
module never imports them.

Pure: paths (+ unsaved editor buffers) in, a `HardenPlan` out: which fixes were applied in which
order, the resulting bytes of every file, and what was left and why. Nothing is written here;
`server/writer.py` (CLI) or a `workspace/applyEdit` (language server) puts it on disk.

How a plan is made, round by round (a fix may enable another, so we iterate to a fixed point):
1. analyse the current state of the workspace ONCE (one model), collect every finding and the
   fixes its builders offer (`codeactions.fixes_for`);
2. order findings by priority tier (data growth and correctness, hibernation, indexes, other,
   rollout), then severity, file and offset; for each finding take its first allowed fix
   (safe, or unsafe when asked; builders list their preferred fix first);
3. accept fixes greedily in that order (`codeactions.editcore.Batch`): identical edits and
   identical new files are merged; a fix whose edits overlap an accepted edit, or that inserts
   at the same point as an accepted fix of another rule, is deferred to the next round, when
   its builder sees the accepted change and can merge with it (the TTL cleanup and a moved
   timer share one `alarm()`); a fix that would insert for a finding what it inserted for it in
   an earlier round is refused (it did not converge);
4. apply the accepted edits per file and check every touched file (`editcore.breakage`):
   TypeScript must gain no tree-sitter ERROR node and no duplicate class member, and no edit
   may land inside or on a line of an ERROR region; wrangler configs and JSON must still load.
   A fix that breaks a file is rolled back alone. Which fix wrote which region is recorded
   (`HardenPlan.provenance`);
5. repeat until a round applies nothing (or MAX_ROUNDS). Running the plan on its own output
   therefore finds nothing to do.

Everything is sorted by stable keys, so the same input gives byte-identical output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from durable_harden.analyzers.analysis import (
    Settings,
    Workspace,
    analyse_within_budget,
    run_rules,
    workspace_for,
)
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.source import language_for
from durable_harden.analyzers.wrangler import is_config_name
from durable_harden.codeactions import fixes_for
from durable_harden.codeactions.editcore import (
    Batch,
    InsertionMemory,
    Provenance,
    choose,
    finding_order,
    normalise,
    tier_of,
)
from durable_harden.codeactions.fix import Fix
from durable_harden.codeactions.spec import (
    TIER_CORRECTNESS,
    TIER_HIBERNATION,
    TIER_INDEXES,
    TIER_NAMES,
    TIER_OTHER,
    TIER_ROLLOUT,
)

__all__ = [
    "TIER_CORRECTNESS",
    "TIER_HIBERNATION",
    "TIER_INDEXES",
    "TIER_NAMES",
    "TIER_OTHER",
    "TIER_ROLLOUT",
    "HardenPlan",
    "plan_workspace",
    "tier_of",
]

MAX_ROUNDS = 8


# -- the plan -----------------------------------------------------------------------------------
# Why a finding was left: the `status` of a Leftover.
UNSAFE_NOT_REQUESTED = "unsafe"  # an unsafe fix exists; not applied without --unsafe-fixes
NO_FIX = "no-fix"  # no automatic fix: needs a person
CONFLICT = "conflict"  # its fix overlapped a higher-priority fix that was applied
BREAKS_FILE = "breaks-file"  # its fix would leave a file unparsable: rolled back
NOT_CONVERGED = "not-converged"  # still fixable when the round limit was reached, or its fix
# would insert again what it inserted in an earlier round (REPEATS)
REPEATS = "its fix would insert the same text again: the first time did not resolve it"

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
    # which applied fix wrote which region of each file's final bytes (owners: AppliedFix)
    provenance: Provenance = field(default_factory=Provenance)
    # for the harden outputs (`codeactions.harden.harden`): the model of the planned state, and
    # the planned bytes of any file
    final_model: Callable[[], ProjectModel] | None = field(default=None, repr=False, compare=False)
    read: Callable[[Path], bytes | None] | None = field(default=None, repr=False, compare=False)

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
        if is_config_name(path.name):
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


# -- the planner --------------------------------------------------------------------------------
def plan_workspace(
    paths: Iterable[Path],
    *,
    unsafe: bool = False,
    settings: Settings | None = None,
    overlays: Mapping[Path, bytes] | None = None,
    max_rounds: int = MAX_ROUNDS,
    rules: Iterable[str] | None = None,
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[str], None] | None = None,
) -> HardenPlan:
    """Plan the hardening of every Durable Object under `paths`.

    unsafe: also apply unsafe fixes (otherwise they are listed with their review notes).
    overlays: unsaved editor buffers (path -> bytes) that win over the disk.
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
    memory = InsertionMemory()
    provenance = Provenance()
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
        batch = Batch(state.read)
        leftovers = []
        ordered = sorted(findings, key=finding_order)
        for finding in ordered:
            poll()
            fixes = fixes_for(finding, model) if only is None or finding.rule_id in only else []
            fixes = [normalise(f) for f in fixes]
            offer = batch.offer(finding, fixes, unsafe, memory)
            cls = class_of(finding, model)
            if not offer.allowed:
                held = offer.held
                status = UNSAFE_NOT_REQUESTED if held is not None else NO_FIX
                leftovers.append(Leftover(finding, status, cls, held, held.review if held else ""))
            elif offer.taken is not None:
                continue
            elif offer.repeated is not None and not offer.reasons:
                leftovers.append(Leftover(finding, NOT_CONVERGED, cls, offer.repeated, REPEATS))
            else:
                leftovers.append(
                    Leftover(finding, CONFLICT, cls, offer.allowed[0], "; ".join(offer.reasons))
                )
        if not batch.accepted:
            converged = not any(lo.status == NOT_CONVERGED for lo in leftovers)
            final_check = False
            break
        new_bytes, dropped = batch.validate(batch.accepted)
        owners: dict[int, AppliedFix] = {}
        for index, entry in enumerate(batch.accepted):
            cls = class_of(entry.finding, model)
            if index in dropped:
                leftovers.append(
                    Leftover(entry.finding, BREAKS_FILE, cls, entry.fix, dropped[index])
                )
                continue
            owners[id(entry)] = AppliedFix(
                finding=entry.finding,
                fix=entry.fix,
                tier=tier_of(entry.finding.rule_id, entry.finding.severity),
                round=number,
                class_name=cls,
                merged=list(entry.merged),
            )
            applied.append(owners[id(entry)])
            memory.remember(entry.finding, entry.fix)
        batch.record(provenance, [(e, owners[id(e)]) for e in batch.accepted if id(e) in owners])
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
            allowed, held = choose(fixes, unsafe)
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
        provenance=provenance,
    )
    if model is not None:
        plan.problems = sorted({f"{p.path}: {p.message}" for p in model.problems})
    plan.final_model = lambda: analyse(ws, state)[0]
    plan.read = state.read
    return plan
