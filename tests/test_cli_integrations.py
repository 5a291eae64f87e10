"""What plugs the command line into other tools (issue 16, items 9 and 10): the junit and gitlab
formats, the settings file's JSON schema, the pre-commit hook and the GitHub Action."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import venv
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import yaml

from durable_harden.server.cli import main
from tests.conftest import ROOT, write_tree
from tests.test_cli_conventions import TIMER, TIMER_TS

GITLAB_SCHEMA = ROOT / "tests/schemas/gitlab-codequality.schema.json"
SETTINGS_SCHEMA = ROOT / "analyzers/durable-harden.schema.json"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def two_findings(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "proj", {**TIMER, "src/more.ts": TIMER_TS, "src/b.ts": "export const = ;\n"}
    )


# -- 9. junit, gitlab, rules --output-format json ----------------------------------------------


def test_junit_output_is_junit_xml(tmp_path, capsys, monkeypatch):
    from junitparser import Failure, JUnitXml

    root = two_findings(tmp_path)
    monkeypatch.chdir(root)
    code, out, _ = run(capsys, "check", "--output-format", "junit")
    assert code == 1
    document = ET.fromstring(out.split("\n", 1)[1])
    assert document.tag == "testsuites"
    assert document.get("tests") == document.get("failures") == "3"
    suites = {s.get("name"): s for s in document.findall("testsuite")}
    assert set(suites) == {"src/b.ts", "src/index.ts", "src/more.ts"}
    (case,) = suites["src/index.ts"].findall("testcase")
    assert case.get("name") == "durable-harden.timer-blocks-hibernation"
    assert case.get("line") == "4"
    assert case.find("failure").text.startswith("src/index.ts:4:5: timer-blocks-hibernation")
    # a JUnit consumer reads it: junitparser, as CI test-report plug-ins do
    report = tmp_path / "junit.xml"
    report.write_text(out, encoding="utf-8")
    xml = JUnitXml.fromfile(str(report))
    cases = [c for suite in xml for c in suite]
    assert len(cases) == 3
    assert all(isinstance(c.result[0], Failure) for c in cases)

    clean = write_tree(tmp_path / "clean", {"src/index.ts": "export {};\n"})
    code, out, _ = run(capsys, "check", "--output-format", "junit", str(clean))
    assert code == 0
    document = ET.fromstring(out.split("\n", 1)[1])
    assert document.get("failures") == "0"
    assert [c.get("name") for c in document.iter("testcase")] == ["No problems found"]


def test_gitlab_output_validates_against_the_code_quality_schema(tmp_path, capsys, monkeypatch):
    root = two_findings(tmp_path)
    # syntax-error is info by default; as an error it must map to GitLab's "major"
    (root / "durable-harden.jsonc").write_text('{ "severity": { "syntax-error": "error" } }\n')
    monkeypatch.chdir(root)
    code, out, _ = run(capsys, "check", "--output-format", "gitlab", str(root))
    assert code == 1
    issues = json.loads(out)
    jsonschema.validate(issues, json.loads(GITLAB_SCHEMA.read_text()))
    assert len(issues) == 3
    by_path = {i["location"]["path"]: i for i in issues}
    assert by_path["src/index.ts"]["check_name"] == "timer-blocks-hibernation"
    assert by_path["src/index.ts"]["severity"] == "minor"  # a warning
    assert by_path["src/b.ts"]["severity"] == "major"  # an error (by the settings below)
    assert by_path["src/index.ts"]["location"]["lines"]["begin"] == 4
    assert len({i["fingerprint"] for i in issues}) == 3
    # a finding keeps its fingerprint when lines above it move
    (root / "src/index.ts").write_text(
        "// a new first line\n" + (root / "src/index.ts").read_text()
    )
    _, moved, _ = run(capsys, "check", "--output-format", "gitlab", str(root))
    after = {i["location"]["path"]: i for i in json.loads(moved)}
    assert after["src/index.ts"]["fingerprint"] == by_path["src/index.ts"]["fingerprint"]
    assert after["src/index.ts"]["location"]["lines"]["begin"] == 5
    # and the schema does reject what GitLab would not take
    bad = [{**issues[0], "severity": "warning"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json.loads(GITLAB_SCHEMA.read_text()))


# -- 10. the settings file's schema -------------------------------------------------------------


def test_settings_schema_file_is_current_and_shipped():
    from durable_harden.server.settings_schema import main as schema_main

    assert schema_main(["--check"]) == 0
    # package data: the wheel's globs take *.json inside durable_harden.analyzers
    import tomllib
    from importlib.resources import files

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "*.json" in data["package-data"]["*"]
    assert (files("durable_harden.analyzers") / "durable-harden.schema.json").is_file()


def schema() -> dict:
    return json.loads(SETTINGS_SCHEMA.read_text())


def test_settings_schema_covers_every_key_the_reader_takes():
    from durable_harden.analyzers.rules import GROUPS, all_rules
    from durable_harden.analyzers.settings_file import KEYS

    props = schema()["properties"]
    assert set(KEYS) <= set(props)
    names = set(props["select"]["items"]["anyOf"][0]["enum"])
    assert names == {r.id for r in all_rules()} | set(GROUPS) | {"ALL"}


def documented_settings() -> list[tuple[str, str]]:
    """Every ```jsonc block in the docs that is a settings file (not an editor's settings)."""
    import json5

    from durable_harden.analyzers import settings_file

    found = []
    sources = {
        "analyzers/settings_file.py": settings_file.__doc__ or "",
        **{
            str(p.relative_to(ROOT)): p.read_text()
            for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
        },
    }
    for where, text in sources.items():
        for block in re.findall(r"```jsonc?\n(.*?)```", text, re.S):
            try:
                value = json5.loads(block)
            except ValueError:
                continue
            if isinstance(value, dict) and set(value) & {"select", "ignore", "perFileIgnores"}:
                found.append((where, block))
    return found


def test_documented_settings_examples_are_valid():
    import json5

    from durable_harden.analyzers.settings_file import normalize

    examples = documented_settings()
    assert len(examples) >= 2, "the settings docstring and docs/cli.md show a settings file"
    for where, block in examples:
        value = json5.loads(block)
        jsonschema.validate(value, schema())
        normalize(value, where)  # the reader takes it too


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{ "select": "sql-missing-index" , "ignore": [1] }', "`ignore` must be a list of strings"),
        ('{ "severity": { "sql-missing-index": "loud" } }', "unknown severity 'loud'"),
        ('{ "unsafeFixes": "yes" }', "`unsafeFixes` must be true or false"),
        ('{ "perFileIgnores": { "test/**": ["sql-mising-index"] } }', "did you mean"),
        ('{ "select": [ ', "not valid JSONC"),
    ],
)
def test_invalid_settings_are_rejected_naming_the_file(tmp_path, capsys, text, says):
    root = write_tree(tmp_path, {**TIMER, "durable-harden.jsonc": text})
    code, _, err = run(capsys, "check", str(root))
    assert code == 2
    assert f"{root / 'durable-harden.jsonc'}: " in err and says in err
    try:
        import json5

        value = json5.loads(text)
    except ValueError:
        return
    if "sql-mising-index" in text:
        return  # the schema allows prefixes it cannot know are unknown; the tool says
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(value, schema())


def test_unknown_key_is_a_schema_error_and_a_tool_warning(tmp_path, capsys):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"selekt": ["ALL"]}, schema())
    root = write_tree(tmp_path, {**TIMER, "durable-harden.jsonc": '{ "selekt": ["ALL"] }'})
    code, _, err = run(capsys, "check", str(root))
    assert code == 1 and "unknown key `selekt`" in err


# -- 10. pre-commit and the GitHub Action, run for real -----------------------------------------


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_pre_commit_hook_runs_check(tmp_path):
    """`pre-commit try-repo` installs this repository's hook (pip install in pre-commit's own
    virtualenv, from PyPI) and runs it on a throwaway repository's files."""
    if shutil.which("git") is None or shutil.which("pre-commit") is None:
        pytest.fail("needs git and pre-commit (`pip install -e .[test]`)")
    repo = write_tree(tmp_path / "repo", TIMER)
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)  # the hook runs the installed copy, not this checkout
    result = subprocess.run(
        ["pre-commit", "try-repo", str(ROOT), "durable-harden", "--all-files", "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "durable-harden" in output and "Failed" in output
    assert "src/index.ts:4:5: timer-blocks-hibernation" in output
    # fixed code passes the hook
    (repo / "src/index.ts").write_text(
        TIMER_TS.replace("setInterval(() => this.tick(), 1000);", "")
    )
    git("add", ".", cwd=repo)
    result = subprocess.run(
        ["pre-commit", "try-repo", str(ROOT), "durable-harden", "--all-files", "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_github_action_steps_run_as_a_script(tmp_path):
    """The composite action's `run` steps, executed by bash as the runner would: inputs through
    their `env`, GITHUB_ACTION_PATH at a copy of this repository. actions/setup-python is played
    by a fresh virtualenv first on PATH (its dependencies from this Python's site-packages, so
    only the build backend comes from PyPI)."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    source = tmp_path / "action"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git",
            "node_modules",
            "editors",
            "tests",
            "bench",
            "build",
            "*.egg-info",
            "__pycache__",
        ),
    )
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    project = write_tree(tmp_path / "work", TIMER)
    inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    inputs["args"] = "--fail-level warning ."
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    base_env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{base_env['PATH']}"
    base_env["GITHUB_ACTION_PATH"] = str(source)
    results = []
    for step in steps[1:]:
        env = dict(base_env)
        for key, value in (step.get("env") or {}).items():
            env[key] = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m[1]], value)
        assert "${{" not in step["run"], "inputs reach the script through env only"
        results.append(
            subprocess.run(
                [step["shell"], "-e", "-c", step["run"]],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
        )
        if results[-1].returncode != 0:
            break
    install, check = results[0], results[-1]
    assert install.returncode == 0, install.stdout + install.stderr
    assert (env_dir / "bin" / "durable-harden").exists()
    assert check.returncode == 1, check.stdout + check.stderr
    assert check.stdout.startswith(
        "::warning file=src/index.ts,line=4,col=5,endLine=4,endColumn=16,"
        "title=timer-blocks-hibernation::"
    )
