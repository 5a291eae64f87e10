"""analyzers.split: the groups of a cold check analysed apart give the findings of one model.

Each group of `plan_groups` is analysed alone (same root, every rule on) and the union of the
groups' findings, with their fixes and the binding-class-not-found hint recomputed as the merge
does (`split.rehint`), must equal the one-model analysis: on the examples, on generated
monorepos, and on one hand-written tree per cross-project look-up. Each hand-written tree also
shows that its condition is needed: with that condition left out (`without=`) the split check
differs. scripts/split_check.py runs the same comparison on real code (corpus-dev).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from durable_harden.analyzers import analysis, split
from tests.conftest import EXAMPLES, generate_monorepo

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("split_check", ROOT / "scripts" / "split_check.py")
assert _spec is not None and _spec.loader is not None
split_check = importlib.util.module_from_spec(_spec)
sys.modules["split_check"] = split_check
_spec.loader.exec_module(split_check)


def _tree(root: Path, files: dict[str, str | dict[str, object]]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return root


def _compare(root: Path, **options: object) -> split_check.Outcome:
    ws = analysis.workspace_for([root])
    return split_check.compare(ws.root, ws.sources, ws.configs, **options)  # type: ignore[no-any-return]


def _config(
    name: str, bindings: dict[str, str] | None = None, main: str = "src/index.ts", **extra: object
) -> dict[str, object]:
    bound = bindings or {}
    config: dict[str, object] = {
        "name": name,
        "main": main,
        "compatibility_date": "2026-01-01",
        "durable_objects": {"bindings": [{"name": b, "class_name": c} for b, c in bound.items()]},
        "migrations": [{"tag": "v1", "new_sqlite_classes": sorted(set(bound.values()))}]
        if bound
        else [],
    }
    config.update(extra)
    return config


# a Durable Object marker: timer-blocks-hibernation reports a timer in a DO class
_TIMER = "  poll() {\n    setInterval(() => {}, 1000);\n  }\n"

CASES: dict[str, dict[str, str | dict[str, object]]] = {
    # 1. a relative import leaving the project: the SQL text lives in another project's file
    "imports": {
        "a/wrangler.jsonc": _config("a", {"ROOMS": "Room"}),
        "a/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            'import { CREATE, ADD } from "../../b/src/queries";\n'
            "export class Room extends DurableObject {\n"
            "  constructor(ctx: DurableObjectState, env: unknown) {\n"
            "    super(ctx, env);\n"
            "    ctx.storage.sql.exec(CREATE);\n"
            "  }\n"
            "  add(text: string) {\n"
            "    this.ctx.storage.sql.exec(ADD, text);\n"
            "  }\n"
            "}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
        "b/wrangler.jsonc": _config("b"),
        "b/src/index.ts": "export default { fetch() { return new Response(); } };\n",
        "b/src/queries.ts": (
            'export const CREATE = "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, '
            'text TEXT)";\n'
            'export const ADD = "INSERT INTO log (text) VALUES (?)";\n'
        ),
    },
    # 2. a config's `main` is another project's file: it does not export the bound class
    "main": {
        "a/wrangler.jsonc": _config("a", {"ROOMS": "Room"}, main="../b/src/shared.ts"),
        "a/src/room.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Room extends DurableObject {}\n"
        ),
        "b/wrangler.jsonc": _config("b"),
        "b/src/index.ts": "export default { fetch() { return new Response(); } };\n",
        "b/src/shared.ts": "export default { fetch() { return new Response(); } };\n",
    },
    # 3. two projects sharing a class name: a binds `Counter`, only b declares it
    "names": {
        "a/wrangler.jsonc": _config("a", {"COUNTER": "Counter"}),
        "a/src/index.ts": "export default { fetch() { return new Response(); } };\n",
        "b/wrangler.jsonc": _config("b", {"COUNTER": "Counter"}),
        "b/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Counter extends DurableObject {}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
    },
    # 3. a loose file's class bound by a config (a library outside every Worker project)
    "names-loose": {
        "a/wrangler.jsonc": _config("a", {"ROOMS": "Room"}),
        "a/src/index.ts": (
            'export { Room } from "@acme/rooms";\n'
            "export default { fetch() { return new Response(); } };\n"
        ),
        "lib/room.ts": ("export class Room {\n" + _TIMER + "}\n"),
    },
    # 3. `export { L as N }` with N bound elsewhere: L is a Durable Object of b's project
    "renames": {
        "a/wrangler.jsonc": _config("a", {"ROOMS": "Room"}),
        "a/src/index.ts": (
            'export { Room } from "@acme/b";\n'
            "export default { fetch() { return new Response(); } };\n"
        ),
        "b/wrangler.jsonc": _config("b"),
        "b/src/index.ts": (
            "class RoomImpl {\n" + _TIMER + "}\n"
            "export { RoomImpl as Room };\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
    },
    # 3. ... and L declared in a loose file (the rename makes L a name every loose file sees)
    "rename-locals": {
        "a/wrangler.jsonc": _config("a", {"ROOMS": "Room"}),
        "a/src/index.ts": (
            'export { Room } from "@acme/b";\n'
            "export default { fetch() { return new Response(); } };\n"
        ),
        "b/wrangler.jsonc": _config("b"),
        "b/src/index.ts": (
            'export { RoomImpl as Room } from "@acme/lib";\n'
            "export default { fetch() { return new Response(); } };\n"
        ),
        "lib/impl.ts": ("export class RoomImpl {\n" + _TIMER + "}\n"),
    },
    # 4. a namespace access through a binding the caller's config does not have
    "bindings": {
        "a/wrangler.jsonc": _config("a", {"COUNTER": "Counter"}),
        "a/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Counter extends DurableObject {\n"
            "  label() {\n"
            "    return this.ctx.id.name;\n"
            "  }\n"
            "}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
        "b/wrangler.jsonc": _config("b"),
        "b/src/index.ts": (
            "export default {\n"
            "  async fetch(request: Request, env: any) {\n"
            "    const id = env.COUNTER.newUniqueId();\n"
            "    return env.COUNTER.get(id).fetch(request);\n"
            "  },\n"
            "};\n"
        ),
    },
    # 5. `extends` a Durable Object class of another project (imported from a package name)
    "extends": {
        "a/wrangler.jsonc": _config("a", {"BASES": "Base"}),
        "a/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Base extends DurableObject {}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
        "b/wrangler.jsonc": _config("b"),
        "b/src/index.ts": (
            'import { Base } from "@acme/a";\n'
            "export class Child extends Base {\n" + _TIMER + "}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
    },
    # 6. an RpcTarget class of one project returned by another project's Durable Object
    "rpc": {
        "a/wrangler.jsonc": _config("a"),
        "a/src/index.ts": (
            'import { RpcTarget } from "cloudflare:workers";\n'
            "export class Session extends RpcTarget {\n"
            "  hello() {\n"
            '    return "hi";\n'
            "  }\n"
            "}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
        "b/wrangler.jsonc": _config("b", {"ROOMS": "Room"}),
        "b/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            'import type { Session } from "@acme/a";\n'
            "export class Room extends DurableObject {\n"
            "  async open(): Promise<Session> {\n"
            "    return makeSession();\n"
            "  }\n"
            "}\n"
            "declare function makeSession(): Session;\n"
            "export default {\n"
            "  async fetch(request: Request, env: any) {\n"
            '    const session = await env.ROOMS.getByName("x").open();\n'
            "    return new Response(String(session));\n"
            "  },\n"
            "};\n"
        ),
    },
    # 6. ... and two projects declaring an RpcTarget class of one name (the rule's wrappers
    # keep the later file's class, where it reports)
    "rpc-twice": {
        "p/wrangler.jsonc": _config("p", {"ROOMS": "Room"}),
        "p/src/index.ts": (
            'import { DurableObject, RpcTarget } from "cloudflare:workers";\n'
            "export class Session extends RpcTarget {\n"
            "  constructor(private room: Room, private name: string) {\n"
            "    super();\n"
            "  }\n"
            "}\n"
            "export class Room extends DurableObject {\n"
            "  open(name: string) {\n"
            "    return new Session(this, name);\n"
            "  }\n"
            "}\n"
            "export default {\n"
            "  async fetch(request: Request, env: any) {\n"
            '    using session = await env.ROOMS.getByName("x").open("x");\n'
            "    return new Response();\n"
            "  },\n"
            "};\n"
        ),
        "q/wrangler.jsonc": _config("q"),
        "q/src/index.ts": (
            'import { RpcTarget } from "cloudflare:workers";\n'
            "export class Session extends RpcTarget {}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
    },
    # 7. a workflow shared by two projects deploys with `wrangler deploy`: reported once
    "pipelines": {
        ".github/workflows/deploy.yml": (
            "on: push\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
            '      - run: npx wrangler versions deploy v1.4.0@10 "$OLD_VERSION"@90 -y\n'
        ),
        "a/wrangler.jsonc": _config("a", {"ROOMS": "Room"}, routes=["a.example.com/*"]),
        "a/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Room extends DurableObject {}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
        "b/wrangler.jsonc": _config("b", {"LOBBIES": "Lobby"}, routes=["b.example.com/*"]),
        "b/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Lobby extends DurableObject {}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
    },
    # 7. ... and a script under a project folder holding another project (the outer project
    # lists every shell script below its folder)
    "pipelines-nested": {
        "a/wrangler.jsonc": _config("a", {"ROOMS": "Room"}, routes=["a.example.com/*"]),
        "a/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Room extends DurableObject {}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
        "a/inner/wrangler.jsonc": _config("inner", {"LOBBIES": "Lobby"}),
        "a/inner/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Lobby extends DurableObject {}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
        "a/inner/scripts/release.sh": 'npx wrangler versions deploy v2@10 "$OLD"@90 -y\n',
    },
    # the "Did you mean" hint of binding-class-not-found reads every class of the model
    "hint": {
        "a/wrangler.jsonc": _config("a", {"ROOMS": "ChatRom"}),
        "a/src/index.ts": "export default { fetch() { return new Response(); } };\n",
        "b/wrangler.jsonc": _config("b", {"CHATS": "ChatRoom"}),
        "b/src/index.ts": (
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class ChatRoom extends DurableObject {}\n"
            "export default { fetch() { return new Response(); } };\n"
        ),
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_cross_project_look_up_keeps_its_projects_together(case: str, tmp_path: Path) -> None:
    root = _tree(tmp_path / case, CASES[case])
    outcome = _compare(root)
    assert outcome.differences == 0, (outcome.only_whole, outcome.only_split)
    assert outcome.findings > 0
    # the case needs its condition: without it the groups' findings differ
    if case == "hint":
        apart = _compare(root, rehint=False)
        assert len(outcome.groups) == 2  # the hint is recomputed, not grouped
    else:
        condition = {
            "names-loose": "names",
            "pipelines-nested": "pipelines",
            "rpc-twice": "rpc",
        }.get(case, case)
        assert condition in split.CONDITIONS
        apart = _compare(root, without=[condition])
        assert len(apart.groups) > len(outcome.groups)
    assert apart.differences > 0


def test_the_examples_and_generated_monorepos_split_without_a_difference(
    tmp_path: Path,
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    generate_monorepo(tmp_path / "monorepo", 80)
    for root in (tmp_path / "examples", tmp_path / "monorepo"):
        outcome = _compare(root)
        assert outcome.differences == 0, (root.name, outcome.only_whole, outcome.only_split)
        assert outcome.findings > 10
        assert len(outcome.groups) > 1  # projects that share nothing are apart


def test_the_groups_partition_the_inputs_in_order(tmp_path: Path) -> None:
    generate_monorepo(tmp_path / "monorepo", 80)
    shutil.copytree(EXAMPLES, tmp_path / "monorepo" / "examples")
    _tree(
        tmp_path / "monorepo",
        {
            "loose/a.ts": "export const a = 1;\n",
            "broken/wrangler.jsonc": "{ not json",
            "broken/src/x.ts": "export const x = 1;\n",
        },
    )
    ws = analysis.workspace_for([tmp_path / "monorepo"])
    data = {p: p.read_bytes() for p in [*ws.sources, *ws.configs]}
    unreadable = ws.sources[3]
    del data[unreadable]  # a file the parent could not read still has a group
    groups = split.plan_groups(ws.root, ws.sources, ws.configs, data)
    placed = [p for g in groups for p in g.sources]
    assert sorted(placed) == sorted(ws.sources) and len(placed) == len(set(placed))
    assert sorted(p for g in groups for p in g.configs) == sorted(ws.configs)
    order = {p: i for i, p in enumerate([*ws.sources, *ws.configs])}
    for group in groups:
        assert group.sources + group.configs
        assert [order[p] for p in group.sources] == sorted(order[p] for p in group.sources)
        assert [order[p] for p in group.configs] == sorted(order[p] for p in group.configs)
        assert group.size == sum(len(data.get(p, b"")) for p in group.sources + group.configs)
    firsts = [min(order[p] for p in g.sources + g.configs) for g in groups]
    assert firsts == sorted(firsts)
    # the config that does not load is with the files of its folder (here: the loose ones)
    broken = next(g for g in groups if any(p.parent.name == "broken" for p in g.configs))
    assert any(p.parent.name == "loose" for p in broken.sources)


def test_rehint_recomputes_the_hint_from_every_group(tmp_path: Path) -> None:
    root = _tree(tmp_path / "hint", CASES["hint"])
    ws = analysis.workspace_for([root])
    config_a = next(p for p in ws.configs if p.parent.name == "a")
    sources_a = [p for p in ws.sources if root / "a" in p.parents]
    _, findings, _ = analysis.analyse_within_budget(
        ws.root, sources_a, [config_a], split_check.every_rule()
    )
    (alone,) = [f for f in findings if f.rule_id == "binding-class-not-found"]
    assert "Did you mean" not in alone.message and alone.data["suggestion"] is None
    hinted = split.rehint(alone, {"ChatRoom", "Lobby"}, {"ChatRom"})
    assert hinted is not None and hinted is not alone
    assert hinted.message.endswith(" Did you mean `ChatRoom`?")
    assert hinted.data["suggestion"] == "ChatRoom" and alone.data["suggestion"] is None
    assert split.rehint(hinted, {"ChatRoom"}, {"ChatRom"}) is None  # already right
    # a class the config binds is no hint (the rule's own rule)
    assert split.rehint(alone, {"ChatRoom"}, {"ChatRom", "ChatRoom"}) is None


def test_the_import_candidates_are_resolve_modules(tmp_path: Path) -> None:
    """Condition 1 lists the paths `model.resolve_module` tries, in its order: the first that
    exists is its answer (a drift between the two would split an import)."""
    from typing import Any

    from durable_harden.analyzers.model import resolve_module

    names = [
        "src/a.ts",
        "src/b.js",
        "src/c/index.ts",
        "src/d.mts",
        "src/e.tsx",
        "lib/f.ts",
        "lib/g/index.jsx",
        "lib/h.cjs",
        "lib/index.ts",
        "x.ts",
    ]
    known: dict[Path, Any] = {tmp_path / n: tmp_path / n for n in names}
    importer = tmp_path / "src" / "main.ts"
    specs = ["./a", "./a.js", "./b", "./b.js", "./c", "./d", "./d.mjs", "./e", "./e.jsx"]
    specs += ["../lib/f", "../lib/g", "../lib/h.cjs", "../lib", "..", ".", "../x", "./nope"]
    for spec in specs:
        answer = resolve_module(importer, spec, known)
        candidates = split._candidates(importer.as_posix(), spec)
        first = next((c for c in candidates if Path(c) in known), None)
        assert (answer if answer is None else str(answer)) == first, spec
