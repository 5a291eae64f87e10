"""The one edit core: which fixes can go together, applying them, who wrote what, and the guard.

Every path that applies fixes goes through here: the harden planner and `check --fix`
(`codeactions/harden/plan.py`, round by round), the language server's fix-all and "harden all",
and the tests' fix-all properties (which run the planner itself).

- **Conflicts** (`Batch.why_not`), like Ruff's isolation levels and ESLint's fix ranges: two
  fixes conflict when their replaced ranges intersect, when one inserts inside the other's
  replacement, or when fixes of two different rules insert at the same point (the TTL cleanup
  and a moved timer both rewrite `alarm()`), or when two fixes share an isolation key
  (`Fix.isolation`, Ruff's isolation groups: two appended migrations would both take the next
  tag): the later one waits a round, then its builder sees the first one's change and merges
  with it or numbers after it. Identical edits and identical new files merge.
- **Applying** (`Batch.apply`): per file, through `fix.apply_edits` (which refuses overlaps),
  returning the new bytes and the **provenance** of every inserted region: which accepted fix
  wrote the bytes `[start, end)` of the new file (`Region`). Later rounds map earlier regions
  forward (`Provenance.after`), so a front end can say which fix produced a hunk without
  replaying the rounds.
- **The guard** (`breakage`, `Batch.validate`): an edited TypeScript file may gain no
  tree-sitter ERROR node and no duplicate class member, and no edit may land inside or on a line
  of an ERROR region of the file as it was (what the parser saw there is a guess: a fix
  inserted there re-inserts itself on every run); configs and JSON must still load. A fix that
  breaks a file is rolled back alone. `InsertionMemory` compares what fixes insert across rounds:
  a fix that would insert the same text for the same finding again did not converge.

`DEFAULT_UNSAFE` is the one default for applying unsafe fixes (off: unsafe fixes are offered
one by one, applied in bulk only when asked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from durable_harden.analyzers import safejson
from durable_harden.analyzers.findings import Finding, Severity
from durable_harden.analyzers.source import SourceError, language_for, parse_source
from durable_harden.analyzers.tsutil import node_text, walk_type
from durable_harden.analyzers.wrangler import ConfigError, is_config_name, load_config
from durable_harden.codeactions import spec_for
from durable_harden.codeactions.fix import Edit, Fix, NewFile, OverlappingEdits, apply_edits
from durable_harden.codeactions.spec import TIER_CORRECTNESS, TIER_OTHER

DEFAULT_UNSAFE = False

Reader = Callable[[Path], "bytes | None"]


# -- keys ------------------------------------------------------------------------------------------
def edit_key(edit: Edit) -> tuple[str, int, int, str]:
    return (str(edit.path), edit.start, edit.end, edit.new_text)


def fix_key(fix: Fix) -> tuple[object, ...]:
    return (
        tuple(sorted(edit_key(e) for e in fix.edits)),
        tuple(sorted((str(c.path), c.content) for c in fix.creates)),
    )


def normalise(fix: Fix) -> Fix:
    """Resolved paths, so edits from different builders compare equal."""
    resolved = {p: p.resolve() for p in {e.path for e in fix.edits}}  # one lookup per file
    fix.edits = [Edit(resolved[e.path], e.start, e.end, e.new_text) for e in fix.edits]
    fix.creates = [NewFile(c.path.resolve(), c.content) for c in fix.creates]
    return fix


# -- priority: the order findings are offered to a batch -------------------------------------------
def tier_of(rule_id: str, severity: Severity | None = None) -> int:
    """A rule's priority tier (its `FixSpec.tier`); a rule without one: errors are correctness,
    the rest 'other'."""
    spec = spec_for(rule_id)
    if spec is not None and spec.tier is not None:
        return spec.tier
    if severity is not None and severity >= Severity.ERROR:
        return TIER_CORRECTNESS
    return TIER_OTHER


def finding_order(finding: Finding) -> tuple[int, int, str, int, str]:
    """Tier, then severity (highest first), file, offset and rule: the order every batch takes
    findings in (the planner's rounds and the editor's fix-all alike)."""
    return (
        tier_of(finding.rule_id, finding.severity),
        -int(finding.severity),
        str(finding.span.path),
        finding.span.start,
        finding.rule_id,
    )


def choose(fixes: list[Fix], unsafe: bool = DEFAULT_UNSAFE) -> tuple[list[Fix], Fix | None]:
    """(fixes we may apply, in the builder's order; the first unsafe fix held back)."""
    allowed = [f for f in fixes if f.is_safe or unsafe]
    held = next((f for f in fixes if not f.is_safe), None) if not unsafe else None
    return allowed, held


# -- conflicts -----------------------------------------------------------------------------------
def conflict(edit: Edit, other: Edit, same_rule: bool) -> bool:
    if edit.path != other.path or edit_key(edit) == edit_key(other):
        return False
    a0, a1, b0, b1 = edit.start, edit.end, other.start, other.end
    if a0 < b1 and b0 < a1:  # the replaced ranges intersect
        return True
    if (a0 == a1 and b0 < a0 < b1) or (b0 == b1 and a0 < b0 < a1):  # insertion inside a replacement
        return True
    if a0 == a1 == b0 == b1:  # two insertions at one point: only one rule's may share it
        return not same_rule
    return False


# -- provenance ----------------------------------------------------------------------------------
Span = tuple[int, int]


@dataclass
class Region:
    """Bytes `[start, end)` of a file's new contents, written by `owner` (an accepted fix)."""

    start: int
    end: int
    owner: object


Step = list[tuple[int, int, int]]  # (start, end, new length) in the old bytes, sorted


def _map(pos: int, step: Step, side: str) -> int:
    """A position in the old bytes -> the new bytes. An insertion exactly at `pos` lands before
    a region start and after a region end (it is not part of the region); a position inside a
    replaced range moves to the replacement's start (side "start") or end (side "end")."""
    delta = 0
    for start, end, length in step:
        if end < pos or (end == pos and (start < end or side == "start")):
            delta += length - (end - start)
        elif start < pos < end:
            return start + delta + (0 if side == "start" else length)
        else:
            break
    return pos + delta


def step_of(hunks: Iterable[tuple[int, int, str]]) -> Step:
    """Edits (start, end, new text) as a mapping step."""
    return sorted((s, e, len(t.encode("utf-8"))) for s, e, t in hunks)


def map_regions(regions: Iterable[Region], step: Step) -> list[Region]:
    """The regions moved through one set of edits (old-byte `(start, end, new length)`)."""
    moved = []
    for region in regions:
        start = _map(region.start, step, "start")
        end = _map(region.end, step, "end")
        moved.append(Region(start, max(start, end), region.owner))
    return moved


@dataclass
class Provenance:
    """Per file: which owner wrote which region of its current bytes."""

    regions: dict[Path, list[Region]] = field(default_factory=dict)
    untraced: set[Path] = field(default_factory=set)  # a file whose history does not fit

    def after(self, path: Path, edits: list[tuple[Edit, list[object]]]) -> None:
        """Record one application of `edits` (each with its owners) to `path`: earlier regions
        move, each edit's new text becomes a region of each of its owners."""
        step = step_of((e.start, e.end, e.new_text) for e, _ in edits)
        moved = map_regions(self.regions.get(path, []), step)
        delta = 0
        # the new text of each edit, in apply_edits' order (start, end, given order)
        ordered = sorted(enumerate(edits), key=lambda p: (p[1][0].start, p[1][0].end, p[0]))
        for _, (edit, owners) in ordered:
            length = len(edit.new_text.encode("utf-8"))
            start = edit.start + delta
            moved.extend(Region(start, start + length, owner) for owner in owners)
            delta += length - (edit.end - edit.start)
        self.regions[path] = moved

    def created(self, path: Path, length: int, owner: object) -> None:
        self.regions.setdefault(path, []).append(Region(0, length, owner))

    def rewritten(self, path: Path, hunks: Iterable[tuple[int, int, str]]) -> None:
        """The file changed by hunks (old start, old end, new text) that no fix owns."""
        self.regions[path] = map_regions(self.regions.get(path, []), step_of(hunks))

    def of(self, path: Path) -> list[Region] | None:
        """The regions of a file, or None when its history could not be traced."""
        if path in self.untraced:
            return None
        return list(self.regions.get(path, []))


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


# -- the guard -----------------------------------------------------------------------------------
def duplicate_members(data: bytes, path: Path) -> set[tuple[str, str]]:
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


def _line_span(data: bytes, start: int, end: int) -> Span:
    """From the start of the line holding `start` to the end of the line holding `end`."""
    first = data.rfind(b"\n", 0, start) + 1
    last = data.find(b"\n", end)
    return first, len(data) if last == -1 else last


def edit_near_error(path: Path, before: bytes, edits: Iterable[Edit]) -> str | None:
    """Why one of `edits` lands inside or on a line of an ERROR region of `before`, or None."""
    if language_for(path) is None:
        return None
    try:
        source = parse_source(path, before)
    except SourceError:
        return None
    if not source.error_ranges:
        return None
    for edit in edits:
        for err_start, err_end in source.error_ranges:
            lo, hi = _line_span(before, err_start, max(err_start, err_end - 1))
            if edit.start <= hi and lo <= edit.end:
                row = source.lines.row_of(err_start) + 1
                return (
                    f"{path.name} has a syntax error at line {row}: "
                    "no fix edits inside or next to it"
                )
    return None


def breakage(
    path: Path, before: bytes | None, after: bytes, edits: Iterable[Edit] = ()
) -> str | None:
    """Why `after` (made from `before` by `edits`) is worse than `before`, or None."""
    if is_config_name(path.name):
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
    if before is not None and old_errors:
        near = edit_near_error(path, before, edits)
        if near is not None:
            return near
    new_dupes = duplicate_members(after, path) - (
        duplicate_members(before, path) if before is not None else set()
    )
    if new_dupes:
        owner, key = sorted(new_dupes)[0]
        return f"{path.name} would declare `{key.strip()}` twice in {owner}"
    return None


class InsertionMemory:
    """What fixes inserted in earlier rounds, per finding: a fix that inserts the same text for
    the same finding again did not resolve it the first time, and would repeat forever."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str, str]] = set()

    @staticmethod
    def _keys(finding: Finding, fix: Fix) -> set[tuple[str, str, str, str]]:
        rule = fix.rule_id or finding.rule_id
        return {
            (rule, finding.message, str(e.path), e.new_text)
            for e in fix.edits
            if e.new_text.strip()
        }

    def repeats(self, finding: Finding, fix: Fix) -> bool:
        keys = self._keys(finding, fix)
        return bool(keys) and keys <= self._seen

    def remember(self, finding: Finding, fix: Fix) -> None:
        self._seen |= self._keys(finding, fix)


# -- a batch of fixes applied together -------------------------------------------------------------
@dataclass
class Accepted:
    finding: Finding
    fix: Fix
    edits: list[Edit]  # the edits not already accepted (identical ones merged away)
    creates: list[NewFile]
    merged: list[Finding] = field(default_factory=list)


@dataclass
class Offer:
    """What became of one finding offered to a batch (`Batch.offer`)."""

    allowed: list[Fix]  # its fixes we may apply (safe, or unsafe when asked), preferred first
    held: Fix | None  # its first unsafe fix, held back (unsafe fixes not asked for)
    taken: Accepted | None = None  # the accepted fix that resolves it (its own or identical)
    reasons: list[str] = field(default_factory=list)  # why each allowed fix could not join
    repeated: Fix | None = None  # a fix refused because it did not converge


class Batch:
    """Fixes accepted to be applied together onto the bytes `read` returns (one round)."""

    def __init__(self, read: Reader) -> None:
        self.read = read
        self.accepted: list[Accepted] = []
        self.edits: list[tuple[Edit, str]] = []  # accepted edit, its rule
        self.creates: dict[Path, str] = {}
        self._by_key: dict[tuple[object, ...], Accepted] = {}

    def same_as(self, fix: Fix) -> Accepted | None:
        """The accepted fix identical to `fix` (its finding then merges into it), if any."""
        return self._by_key.get(fix_key(fix))

    def why_not(self, fix: Fix) -> str | None:
        """None when the fix can join this batch, else why not."""
        rule = fix.rule_id
        if fix.isolation and any(a.fix.isolation == fix.isolation for a in self.accepted):
            return f"another fix this round also changes {fix.isolation}"
        for edit in fix.edits:
            data = self.read(edit.path)
            if data is None or edit.path in self.creates:
                return f"{edit.path.name} does not exist (yet)"
            if not (0 <= edit.start <= edit.end <= len(data)):
                return f"edit {edit.start}-{edit.end} leaves {edit.path.name}"
            for other, other_rule in self.edits:
                if conflict(edit, other, rule == other_rule):
                    return f"overlaps another edit in {edit.path.name}"
        for create in fix.creates:
            existing = self.read(create.path)
            if existing is not None and existing != create.content.encode("utf-8"):
                return f"{create.path.name} already exists with other content"
            if create.path in self.creates and self.creates[create.path] != create.content:
                return f"another fix creates {create.path.name} differently"
            if any(e.path == create.path for e, _ in self.edits):
                return f"another fix edits {create.path.name}"
        return None

    def offer(
        self,
        finding: Finding,
        fixes: list[Fix],
        unsafe: bool = DEFAULT_UNSAFE,
        memory: InsertionMemory | None = None,
        creates: bool = True,
    ) -> Offer:
        """Offer a finding's fixes (its builder's order): the first allowed fix that is
        identical to an accepted one merges into it, else the first that can join is accepted.
        A fix that would insert what it inserted for this finding in an earlier round
        (`memory`) is refused; `creates=False` (the editor's fix-all of one document) skips
        fixes that create files."""
        allowed, held = choose(fixes, unsafe)
        result = Offer(allowed, held)
        for fix in allowed:
            if not fix.edits and not fix.creates:
                continue
            if fix.creates and not creates:
                continue
            same = self.same_as(fix)
            if same is not None:
                same.merged.append(finding)
                result.taken = same
                break
            if memory is not None and memory.repeats(finding, fix):
                result.repeated = fix
                continue
            why = self.why_not(fix)
            if why is None:
                result.taken = self.accept(finding, fix)
                break
            result.reasons.append(why)
        return result

    def accept(self, finding: Finding, fix: Fix) -> Accepted:
        known = {edit_key(e) for e, _ in self.edits}
        fresh = [e for e in fix.edits if edit_key(e) not in known]
        creates = [
            c for c in fix.creates if c.path not in self.creates and self.read(c.path) is None
        ]
        entry = Accepted(finding, fix, fresh, creates)
        self.accepted.append(entry)
        self._by_key[fix_key(fix)] = entry
        self.edits.extend((e, fix.rule_id) for e in fresh)
        for create in creates:
            self.creates[create.path] = create.content
        return entry

    def apply(self, entries: list[Accepted]) -> dict[Path, bytes]:
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
            data = self.read(path)
            assert data is not None
            out[path] = apply_edits(data, edits)
        return out

    def validate(self, entries: list[Accepted]) -> tuple[dict[Path, bytes], dict[int, str]]:
        """Apply the entries; roll back (one by one, lowest priority first) those that break
        files. Returns the new bytes and {index in entries: why it was rolled back}."""

        def check(chosen: list[Accepted]) -> tuple[dict[Path, bytes] | None, str | None]:
            try:
                out = self.apply(chosen)
            except OverlappingEdits as exc:
                return None, str(exc)
            for path, data in sorted(out.items(), key=lambda kv: str(kv[0])):
                edits = [e for entry in chosen for e in entry.edits if e.path == path]
                why = breakage(path, self.read(path), data, edits)
                if why is not None:
                    return None, why
            return out, None

        out, _ = check(entries)
        if out is not None:
            return out, {}
        # something breaks: build up again in priority order, keeping what stays valid
        kept: list[Accepted] = []
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

    def record(self, provenance: Provenance, applied: list[tuple[Accepted, object]]) -> None:
        """Record in `provenance` which owner wrote what when these entries are applied."""
        per_file: dict[Path, list[tuple[Edit, list[object]]]] = {}
        by_key: dict[tuple[str, int, int, str], list[object]] = {}
        for entry, owner in applied:
            for edit in entry.fix.edits:
                key = edit_key(edit)
                if key in by_key:
                    by_key[key].append(owner)
                    continue
                by_key[key] = [owner]
                per_file.setdefault(edit.path, []).append((edit, by_key[key]))
        for path, pairs in per_file.items():
            provenance.after(path, pairs)
        for entry, owner in applied:
            for create in entry.creates:
                provenance.created(create.path, len(create.content.encode("utf-8")), owner)


def why_not_alone(finding: Finding, fix: Fix, read: Reader) -> str | None:
    """Why one fix cannot be applied on its own (a quick fix), or None: the checks of a batch
    of one (`Batch.why_not`: edits inside existing files, new files not clashing) and the
    guard (`Batch.validate`: its own edits do not overlap, no file parses worse)."""
    batch = Batch(read)
    why = batch.why_not(fix)
    if why is not None:
        return why
    batch.accept(finding, fix)
    _, dropped = batch.validate(batch.accepted)
    return dropped.get(0)


def select_fixes(
    findings: Iterable[Finding],
    fixes_of: Callable[[Finding], list[Fix]],
    read: Reader,
    unsafe: bool = DEFAULT_UNSAFE,
) -> list[Edit]:
    """The edits of a fix-all of one document (the editor's `source.fixAll`): one round of the
    planner over the document's findings. Findings in `finding_order`, each offered to one
    `Batch` (`Batch.offer`: first allowed fix, identical fixes merged, conflicts wait), fixes
    that create files skipped; then the guard (`Batch.validate`) rolls back any fix that would
    break a file. A fix that had to wait is offered by the next fix-all, on the edited text,
    as the planner's next round would: fix-all repeated until it offers nothing gives what
    `check --fix` writes for the document."""
    batch = Batch(read)
    for finding in sorted(findings, key=finding_order):
        batch.offer(finding, fixes_of(finding), unsafe, creates=False)
    if not batch.accepted:
        return []
    _, dropped = batch.validate(batch.accepted)
    return [
        edit
        for index, entry in enumerate(batch.accepted)
        if index not in dropped
        for edit in entry.edits
    ]
