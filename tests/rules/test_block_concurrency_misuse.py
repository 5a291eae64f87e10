"""block-concurrency-misuse: per-request use, or network I/O inside the constructor's."""

from __future__ import annotations

from pathlib import Path

from tests.rules._config_support import fixture, line_of, run

RULE = "block-concurrency-misuse"


def test_per_request_and_io_uses_are_reported_schema_setup_is_not(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    findings, _ = run(RULE, root)
    assert sorted((line_of(f), f.data["class"], f.data["problem"]) for f in findings) == [
        (18, "Store", "outside-constructor"),
        (29, "ConfigHolder", "io-inside"),
    ]


def test_examples_constructors_are_not_reported() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    assert run(RULE, examples)[0] == []
