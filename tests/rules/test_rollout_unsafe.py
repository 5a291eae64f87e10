"""rollout-unsafe: `wrangler versions` misuse, second-binding canaries, and the generated
scripts/deploy-gradual.sh (checked with shellcheck and run against a fake wrangler)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from durable_harden.analyzers.wrangler import load_config
from durable_harden.codeactions import fixes_for
from durable_harden.codeactions.rollout_unsafe import deploy_script
from tests.rules._config_support import apply_fix, fix_all, fixture, line_of, run, text_of
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"

RULE = "rollout-unsafe"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


OLD = "0b6b6d67-1f6e-4a2c-9d3e-2b8e9e3c4a10"
NEW = "5f0c6a52-8f0d-4a39-9c1b-0d2c8f5a7e21"


def _by_file(findings, root: Path) -> set[tuple[str, int, str]]:
    return {
        (f.span.path.relative_to(root.resolve()).as_posix(), line_of(f), f.message_id)
        for f in findings
    }


def test_versions_misuse_in_scripts_workflows_and_second_binding_canary(tmp_path: Path) -> None:
    root = fixture(RULE, "pipelines", tmp_path)
    findings, _ = run(RULE, root)
    assert _by_file(findings, root) == {
        # "release": … && wrangler versions deploy v1.4.0@10 -y
        ("package.json", 6, "tag-as-version"),
        ("package.json", 6, "percentages"),
        # three versions across a line continuation
        ("scripts/release.sh", 8, "too-many-versions"),
        ("scripts/release.sh", 10, "percentages"),
        # --version-id/--percentage pairs in a folded YAML command: 30 + 60
        (".github/workflows/deploy.yml", 12, "percentages"),
        ("src/index.ts", 20, "second-binding-canary"),
    }
    tag = next(f for f in findings if f.message_id == "tag-as-version")
    assert text_of(tag) == "v1.4.0@10"
    # not reported: `$NEW@10 $OLD@90`, `${{ steps.upload.outputs.version }}@100`, comments,
    # `$NEW_VERSION@50 $OLD_VERSION@50`, and a ternary between the same binding


def test_percentage_fix_and_deploy_script_fix(tmp_path: Path) -> None:
    root = fixture(RULE, "pipelines", tmp_path)
    findings, model = run(RULE, root)
    finding = next(f for f in findings if f.message_id == "percentages" and f.path.suffix == ".sh")
    fixes = {f.fix_id: f for f in fixes_for(finding, model)}
    assert set(fixes) == {"rollout-unsafe.percentages", "rollout-unsafe.deploy-script"}
    assert all(f.is_safe for f in fixes.values())
    apply_fix(fixes["rollout-unsafe.percentages"])
    text = (root / "scripts" / "release.sh").read_text()
    assert 'npx wrangler versions deploy "$NEW@25" "$OLD@75" --message "stage 2" -y\n' in text
    apply_fix(fixes["rollout-unsafe.deploy-script"])
    assert (root / "scripts" / "deploy-gradual.sh").is_file()
    # fixed: neither finding comes back, and the script is not offered twice
    findings, model = run(RULE, root)
    assert ("scripts/release.sh", 10, "percentages") not in _by_file(findings, root)
    assert all(
        fix.fix_id != "rollout-unsafe.deploy-script"
        for f in findings
        for fix in fixes_for(f, model)
    )
    # the generated script itself is not read as a misuse
    assert not any(f.path.name == "deploy-gradual.sh" for f in findings)


def test_flag_style_percentages_are_reported_without_a_rewrite(tmp_path: Path) -> None:
    root = fixture(RULE, "pipelines", tmp_path)
    findings, model = run(RULE, root)
    finding = next(f for f in findings if f.path.suffix == ".yml")
    assert [f.fix_id for f in fixes_for(finding, model)] == ["rollout-unsafe.deploy-script"]


# -- `versions upload` while migrations changed (git) -------------------------------------------


def _git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _add_migration(config: Path) -> None:
    config.write_text(
        config.read_text().replace(
            '"migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room", "RoomCanary"] }],',
            '"migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room", "RoomCanary"] }, '
            '{ "tag": "v2", "new_sqlite_classes": ["Lobby"] }],',
        )
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_upload_while_migrations_differ_from_head(tmp_path: Path) -> None:
    root = fixture(RULE, "pipelines", tmp_path)
    findings, _ = run(RULE, root)
    assert not any(f.message_id == "upload-with-migrations" for f in findings)  # no git
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "init")
    findings, _ = run(RULE, root)
    assert not any(f.message_id == "upload-with-migrations" for f in findings)
    config = root / "wrangler.jsonc"
    config.write_text(config.read_text().replace('// "canary"', "// a comment edit only"))
    findings, _ = run(RULE, root)
    assert not any(f.message_id == "upload-with-migrations" for f in findings)
    _add_migration(config)
    findings, _ = run(RULE, root)
    uploads = {
        (f.span.path.name, line_of(f)) for f in findings if f.message_id == "upload-with-migrations"
    }
    assert uploads == {("package.json", 6), ("deploy.yml", 9)}


# -- the generated script ---------------------------------------------------------------------

FAKE_WRANGLER = """#!/usr/bin/env bash
# records every call; answers like wrangler does
echo "$*" >> "$WRANGLER_LOG"
case "$1 $2" in
  "deployments status")
    printf '{"id":"d1","versions":[{"version_id":"%s","percentage":100}]}\\n' "$FAKE_OLD" ;;
  "versions upload")
    echo "Uploaded rooms (1.2 sec)"
    echo "Worker Version ID: $FAKE_NEW" ;;
  "versions deploy")
    echo "deployed" ;;
esac
"""


def _script_project(tmp_path: Path, config_name: str = "wrangler.jsonc") -> tuple[Path, Path]:
    root = fixture(RULE, "pipelines", tmp_path)
    if config_name == "wrangler.toml":
        (root / "wrangler.jsonc").unlink()
        (root / "wrangler.toml").write_text(
            'name = "rooms"\nmain = "src/index.ts"\n\n[[durable_objects.bindings]]\n'
            'name = "ROOM"\nclass_name = "Room"\n\n# history\n[[migrations]]\ntag = "v1"\n'
            'new_sqlite_classes = ["Room"]  # first\n\n[vars]\nMODE = "prod"\n'
        )
    config = load_config(root / config_name)
    script = root / "scripts" / "deploy-gradual.sh"
    script.write_text(deploy_script(config))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "wrangler"
    fake.write_text(FAKE_WRANGLER)
    fake.chmod(0o755)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "live")
    _git(root, "tag", "deployed-rooms")
    return root, script


def _deploy(root: Path, script: Path, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "WRANGLER_LOG": str(tmp_path / "calls.log"),
        "FAKE_OLD": OLD,
        "FAKE_NEW": NEW,
        "PAUSE_SECONDS": "0",
        **extra,
    }
    return subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


needs_tools = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("node") is None, reason="needs git and node"
)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="apt-get install -y shellcheck")
@pytest.mark.parametrize("name", ["wrangler.jsonc", "wrangler.toml"])
def test_generated_script_passes_shellcheck(tmp_path: Path, name: str) -> None:
    root = fixture(RULE, "pipelines", tmp_path)
    if name == "wrangler.toml":
        (root / name).write_text('name = "rooms"\nmain = "src/index.ts"\n')
    script = tmp_path / "deploy-gradual.sh"
    script.write_text(deploy_script(load_config(root / name)))
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@needs_tools
@pytest.mark.parametrize("name", ["wrangler.jsonc", "wrangler.toml"])
def test_script_uploads_then_deploys_in_stages(tmp_path: Path, name: str) -> None:
    root, script = _script_project(tmp_path, name)
    done = _deploy(root, script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert _calls(tmp_path) == [
        "deployments status --json",
        "versions upload",
        f"versions deploy {NEW}@10 {OLD}@90 --yes",
        f"versions deploy {NEW}@50 {OLD}@50 --yes",
        f"versions deploy {NEW}@100 --yes",
    ]
    # the record of what is live moved to HEAD
    assert _git(root, "rev-parse", "deployed-rooms") == _git(root, "rev-parse", "HEAD")


@needs_tools
def test_script_stages_env_and_comment_only_config_edits(tmp_path: Path) -> None:
    root, script = _script_project(tmp_path)
    config = root / "wrangler.jsonc"
    config.write_text("// reviewed 2026-11\n" + config.read_text())
    done = _deploy(root, script, tmp_path, STAGES="25 100", WRANGLER_ENV="staging")
    assert done.returncode == 0, done.stderr
    assert _calls(tmp_path) == [
        "deployments status --json --env staging",
        "versions upload --env staging",
        f"versions deploy {NEW}@25 {OLD}@75 --yes --env staging",
        f"versions deploy {NEW}@100 --yes --env staging",
    ]


@needs_tools
@pytest.mark.parametrize("name", ["wrangler.jsonc", "wrangler.toml"])
def test_script_refuses_when_migrations_changed(tmp_path: Path, name: str) -> None:
    root, script = _script_project(tmp_path, name)
    config = root / name
    if name == "wrangler.toml":
        config.write_text(
            config.read_text().replace(
                "[vars]", '[[migrations]]\ntag = "v2"\nnew_sqlite_classes = ["Lobby"]\n\n[vars]'
            )
        )
    else:
        _add_migration(config)
    done = _deploy(root, script, tmp_path)
    assert done.returncode != 0
    assert "migrations/exports" in done.stderr and "wrangler deploy" in done.stderr
    assert _calls(tmp_path) == []  # nothing uploaded, nothing deployed


@needs_tools
def test_script_refuses_without_a_record_of_the_last_deployment(tmp_path: Path) -> None:
    root, script = _script_project(tmp_path)
    _git(root, "tag", "-d", "deployed-rooms")
    done = _deploy(root, script, tmp_path)
    assert done.returncode != 0 and "git tag deployed-rooms" in done.stderr
    assert _calls(tmp_path) == []


@needs_tools
def test_failed_health_check_rolls_back(tmp_path: Path) -> None:
    root, script = _script_project(tmp_path)
    done = _deploy(root, script, tmp_path, HEALTH_CHECK="exit 3")
    assert done.returncode == 1
    assert _calls(tmp_path) == [
        "deployments status --json",
        "versions upload",
        f"versions deploy {NEW}@10 {OLD}@90 --yes",
        f"versions deploy {OLD}@100 --yes",
    ]
    assert "health check failed" in done.stderr


@needs_tools
def test_script_refuses_during_another_rollout(tmp_path: Path) -> None:
    root, script = _script_project(tmp_path)
    fake = tmp_path / "bin" / "wrangler"
    fake.write_text(
        fake.read_text().replace(
            '"percentage":100}]}', '"percentage":90},{"version_id":"x","percentage":10}]}'
        )
    )
    done = _deploy(root, script, tmp_path)
    assert done.returncode != 0 and "finish that rollout first" in done.stderr
    assert _calls(tmp_path) == ["deployments status --json"]


def test_script_documents_affinity_and_code_update_strategy(tmp_path: Path) -> None:
    root = fixture(RULE, "pipelines", tmp_path)
    text = deploy_script(load_config(root / "wrangler.jsonc"))
    assert "Cloudflare-Workers-Version-Key" in text
    assert "durable_objects.code_update_strategy" in text
    assert "10211" in text
    assert json.dumps("rooms")[1:-1] in text


# -- production Durable Objects with no rollout path --------------------------------------------


def _no_path(findings):
    return [f for f in findings if f.message_id == "no-rollout-path"]


def test_plain_deploy_in_package_json_has_no_rollout_path(tmp_path: Path) -> None:
    root = fixture(RULE, "plain-deploy", tmp_path)
    findings, _ = run(RULE, root)
    assert len(findings) == 1
    (finding,) = _no_path(findings)
    assert finding.severity.name == "INFO"
    assert (finding.path.name, line_of(finding), text_of(finding)) == (
        "wrangler.jsonc",
        6,
        '"durable_objects"',
    )
    # the binding owned by another Worker (script_name) is not this Worker's to roll out
    assert "(Counter)" in finding.message and "Ledger" not in finding.message
    data = (root / "package.json").read_bytes()
    (related,) = finding.related
    assert related.span.path.name == "package.json"
    assert data[: related.span.start].count(b"\n") + 1 == 7
    assert data[related.span.start : related.span.end] == b"wrangler deploy --minify"


def test_plain_deploy_in_a_workflow_has_no_rollout_path(tmp_path: Path) -> None:
    root = fixture(RULE, "workflow-deploy", tmp_path)
    findings, _ = run(RULE, root)
    (finding,) = _no_path(findings)
    assert len(findings) == 1
    assert (finding.path.name, line_of(finding), text_of(finding)) == (
        "wrangler.toml",
        6,
        "[[durable_objects.bindings]]",
    )
    # the --dry-run build is not a deploy; the real one is
    workflow = (root / ".github" / "workflows" / "deploy.yml").read_bytes()
    assert [
        (workflow[: r.span.start].count(b"\n") + 1, workflow[r.span.start : r.span.end])
        for r in finding.related
    ] == [(14, b"wrangler deploy")]


def _script_present(root: Path) -> None:
    (root / "scripts").mkdir()
    (root / "scripts" / "deploy-gradual.sh").write_text("#!/usr/bin/env bash\n")


def _versions_in_ci(root: Path) -> None:
    workflow = root / ".github" / "workflows" / "deploy.yml"
    workflow.write_text(
        workflow.read_text().replace(
            "run: npx wrangler deploy\n", 'run: npx wrangler versions deploy "$VERSION@100" -y\n'
        )
    )


def _versions_in_package_json(root: Path) -> None:
    package = root / "package.json"
    package.write_text(
        package.read_text().replace(
            '"deploy": "wrangler deploy --minify"', '"deploy": "wrangler versions upload"'
        )
    )


def _no_bindings(root: Path) -> None:
    (root / "wrangler.jsonc").write_text(
        '{ "name": "counters", "main": "src/index.ts", "compatibility_date": "2026-03-01" }\n'
    )


def _script_name_only(root: Path) -> None:
    config = root / "wrangler.jsonc"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(line for line in lines if '"COUNTER"' not in line))


def _no_deploy_anywhere(root: Path) -> None:
    (root / ".github" / "workflows" / "deploy.yml").unlink()


def _wrangler_action_versions(root: Path) -> None:
    (root / ".github" / "workflows" / "deploy.yml").write_text(
        "jobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: cloudflare/wrangler-action@v3\n        with:\n"
        "          apiToken: ${{ secrets.CLOUDFLARE_API_TOKEN }}\n"
        "          command: versions upload\n"
    )


def test_wrangler_action_deploys_by_default(tmp_path: Path) -> None:
    root = fixture(RULE, "workflow-deploy", tmp_path)
    workflow = root / ".github" / "workflows" / "deploy.yml"
    workflow.write_text(
        "jobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: cloudflare/wrangler-action@v3\n        with:\n"
        "          apiToken: ${{ secrets.CLOUDFLARE_API_TOKEN }}\n"
    )
    findings, _ = run(RULE, root)
    (finding,) = _no_path(findings)
    data = workflow.read_bytes()
    (related,) = finding.related
    assert data[related.span.start : related.span.end] == b"cloudflare/wrangler-action@v3"


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("plain-deploy", _script_present),
        ("workflow-deploy", _no_deploy_anywhere),
        ("workflow-deploy", _wrangler_action_versions),
        ("workflow-deploy", _versions_in_ci),
        ("plain-deploy", _versions_in_package_json),
        ("plain-deploy", _no_bindings),
        ("plain-deploy", _script_name_only),
    ],
)
def test_no_finding_with_a_rollout_path_or_no_own_objects(
    tmp_path: Path, case: str, change
) -> None:
    root = fixture(RULE, case, tmp_path)
    change(root)
    findings, _ = run(RULE, root)
    assert _no_path(findings) == []


def _no_routes(root: Path) -> None:
    config = root / "wrangler.jsonc"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(line for line in lines if '"routes"' not in line))


def test_no_rollout_nag_without_signs_of_production(tmp_path: Path) -> None:
    # a demo deployed by hand with `wrangler deploy`: no routes, no production env, no CI
    root = fixture(RULE, "plain-deploy", tmp_path)
    _no_routes(root)
    assert _no_path(run(RULE, root)[0]) == []


@pytest.mark.parametrize(
    ("config_tail", "sign"),
    [
        ('  "env": { "production": { "name": "counters-prod" } },\n', "`env.production`"),
        ('  "route": "counters.example.com/*",\n', "routes (route)"),
    ],
)
def test_production_signs_other_than_custom_domains(
    tmp_path: Path, config_tail: str, sign: str
) -> None:
    root = fixture(RULE, "plain-deploy", tmp_path)
    _no_routes(root)
    config = root / "wrangler.jsonc"
    text = config.read_text()
    config.write_text(text[: text.rindex("}")] + config_tail + "}\n")
    (finding,) = _no_path(run(RULE, root)[0])
    assert sign in finding.message


def test_examples_folder_name_alone_decides_nothing(tmp_path: Path) -> None:
    # an `examples/` Worker with a custom domain is deployed for real: still reported
    root = fixture(RULE, "plain-deploy", tmp_path / "examples")
    (finding,) = _no_path(run(RULE, root)[0])
    assert "custom domains (routes)" in finding.message


def test_rollout_path_fix_adds_the_script_and_a_package_script(tmp_path: Path) -> None:
    root = fixture(RULE, "plain-deploy", tmp_path)
    before = (root / "package.json").read_text()
    findings, model = run(RULE, root)
    (fix,) = fixes_for(_no_path(findings)[0], model)
    assert fix.fix_id == "rollout-unsafe.rollout-path" and not fix.is_safe
    assert "npm run deploy:gradual" in fix.title
    for words in ("wrangler deploy", "Cloudflare-Workers-Version-Key", "code_update_strategy"):
        assert words in fix.review
    apply_fix(fix)
    # one line inserted after "deploy", in the file's own four-space indentation
    assert (root / "package.json").read_text() == before.replace(
        '        "deploy": "wrangler deploy --minify",\n',
        '        "deploy": "wrangler deploy --minify",\n'
        '        "deploy:gradual": "bash scripts/deploy-gradual.sh",\n',
    )
    script = root / "scripts" / "deploy-gradual.sh"
    assert script.read_text() == deploy_script(load_config(root / "wrangler.jsonc"))
    # fixed, and nothing else to do
    findings, _ = run(RULE, root)
    assert findings == []
    assert fix_all(RULE, root, unsafe=True) == 0


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="apt-get install -y shellcheck")
def test_rollout_path_script_passes_shellcheck(tmp_path: Path) -> None:
    root = fixture(RULE, "workflow-deploy", tmp_path)
    assert fix_all(RULE, root, unsafe=True) == 1
    script = root / "scripts" / "deploy-gradual.sh"
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    assert "CONFIG=wrangler.toml" in script.read_text()


def test_rollout_path_fix_without_package_json_runs_the_script_with_bash(tmp_path: Path) -> None:
    root = fixture(RULE, "workflow-deploy", tmp_path)
    findings, model = run(RULE, root)
    (fix,) = fixes_for(_no_path(findings)[0], model)
    assert fix.edits == [] and [c.path.name for c in fix.creates] == ["deploy-gradual.sh"]
    assert "`bash scripts/deploy-gradual.sh`" in fix.title
    assert fix_all(RULE, root, unsafe=False) == 0  # unsafe: not applied by safe fix-all
    assert not (root / "scripts").exists()


def test_harden_chat_room_adds_the_rollout_path(tmp_path: Path) -> None:
    from durable_harden.codeactions.harden import harden
    from durable_harden.codeactions.harden.plan import UNSAFE_NOT_REQUESTED
    from durable_harden.codeactions.harden.report import render_report, verify_commands
    from durable_harden.server.writer import write_all

    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root)
    root = root.resolve()
    script = root / "scripts" / "deploy-gradual.sh"

    safe = harden([root])
    assert script not in safe.contents
    assert any(
        lo.finding.data.get("kind") == "no-rollout-path" and lo.status == UNSAFE_NOT_REQUESTED
        for lo in safe.leftovers
    )

    plan = harden([root], unsafe=True)
    assert plan.converged
    assert [a.fix.fix_id for a in plan.applied if a.rule_id == RULE] == [
        "rollout-unsafe.rollout-path"
    ]
    assert plan.contents[script].decode() == deploy_script(load_config(root / "wrangler.jsonc"))
    package = json.loads(plan.contents[root / "package.json"])
    assert package["scripts"]["deploy:gradual"] == "bash scripts/deploy-gradual.sh"
    assert package["scripts"]["deploy"] == "wrangler deploy"
    assert "scripts/deploy-gradual.sh" in verify_commands(plan)[-1]
    report = render_report(plan, written=True)
    assert "gradual rollout script" in report and "scripts/deploy-gradual.sh" in report

    write_all(root, {p: after for p, (_, after) in plan.changes().items()})
    assert script.stat().st_mode & stat.S_IXUSR  # a new `#!` file is written executable
    again = harden([root], unsafe=True)
    assert again.applied == [] and not again.has_changes


def test_package_script_goes_after_deploy_keeping_line_endings(tmp_path: Path) -> None:
    root = fixture(RULE, "plain-deploy", tmp_path)
    package = root / "package.json"
    package.write_bytes(
        b'{\r\n\t"name": "counters",\r\n\t"scripts": {\r\n\t\t"dev": "wrangler dev",\r\n'
        b'\t\t"deploy": "wrangler deploy"\r\n\t}\r\n}\r\n'
    )
    findings, model = run(RULE, root)
    (fix,) = fixes_for(_no_path(findings)[0], model)
    apply_fix(fix)
    assert package.read_bytes() == (
        b'{\r\n\t"name": "counters",\r\n\t"scripts": {\r\n\t\t"dev": "wrangler dev",\r\n'
        b'\t\t"deploy": "wrangler deploy",\r\n'
        b'\t\t"deploy:gradual": "bash scripts/deploy-gradual.sh"\r\n\t}\r\n}\r\n'
    )


def test_no_rollout_path_is_suppressed_on_the_config(tmp_path: Path) -> None:
    root = fixture(RULE, "plain-deploy", tmp_path)
    config = root / "wrangler.jsonc"
    config.write_text(
        config.read_text().replace(
            '  "durable_objects": {',
            "  // durable-harden-ignore rollout-unsafe: released by the platform team's pipeline\n"
            '  "durable_objects": {',
        )
    )
    findings, _ = run(RULE, root)
    assert findings == []


@pytest.mark.parametrize("extra", [0, 12])
def test_canary_found_with_few_or_many_bindings(tmp_path: Path, extra: int) -> None:
    """A monorepo config binds many namespaces (over 8, the rule collects the member names of
    the text once instead of searching it per binding): the same ternary is found either way,
    whatever the spelling of the member access."""
    root = fixture(RULE, "pipelines", tmp_path)
    config = root / "wrangler.jsonc"
    others = "".join(
        f'      {{ "name": "OTHER_{n}", "class_name": "Other{n}" }},\n' for n in range(extra)
    )
    config.write_text(config.read_text().replace('      // "canary"', others + '      // "canary"'))
    source = root / "src" / "index.ts"
    source.write_text(
        source.read_text().replace(
            "inCanary ? env.ROOM_CANARY : env.ROOM;", "inCanary ? env?.ROOM_CANARY : env.\n  ROOM;"
        )
    )
    findings, _ = run(RULE, root)
    assert len(load_config(config).bindings) == 2 + extra
    assert ("src/index.ts", 20, "second-binding-canary") in _by_file(findings, root)


def test_member_names_follow_edits() -> None:
    """The names after a `.` (the canary pre-check in a monorepo), kept per file version and
    counted again around each edit only: after random edits (dots, names, spaces and newlines
    typed and deleted anywhere) they equal a count over the whole text."""
    import random
    from collections import Counter

    from durable_harden.analyzers.rules.rollout_unsafe import _MEMBER_NAME, member_names
    from durable_harden.analyzers.source import parse_source, reparse

    rng = random.Random(7)
    words = [b".", b"env", b".A", b". B_1", b"\n", b" ", b"x", b"$y", b"(", b".\n  C", b";"]
    data = b"".join(rng.choice(words) for _ in range(400))
    file = parse_source(Path("/tmp/x.ts"), data)
    member_names(file)
    for step in range(300):
        start = rng.randrange(len(data) + 1)
        end = min(len(data), start + rng.choice([0, 0, 1, 2, 5]))
        data = (
            data[:start] + b"".join(rng.choice(words) for _ in range(rng.randrange(3))) + data[end:]
        )
        file = reparse(file, data)
        want = Counter(_MEMBER_NAME.findall(data))
        got = member_names(file)
        assert +got == want, step  # (+ drops the names counted down to zero)
        assert min(got.values(), default=0) >= 0, step
