"""The `snapshots` fixture of the rule tests (see tests/rules/_snapshot.py)."""

from __future__ import annotations

import pytest

from tests.rules import _snapshot
from tests.rules._snapshot import Snapshots


def pytest_configure(config: pytest.Config) -> None:
    _snapshot.UPDATE = bool(config.getoption("--snapshot-update"))


@pytest.fixture
def snapshots(request: pytest.FixtureRequest) -> Snapshots:
    test = request.node.path.relative_to(request.config.rootpath).as_posix()
    return Snapshots(bool(request.config.getoption("--snapshot-update")), test)
