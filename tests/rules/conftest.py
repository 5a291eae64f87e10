"""The `snapshots` fixture of the rule tests (see tests/rules/_snapshot.py)."""

from __future__ import annotations

import pytest

from tests.rules._snapshot import Snapshots


@pytest.fixture
def snapshots(request: pytest.FixtureRequest) -> Snapshots:
    test = request.node.path.relative_to(request.config.rootpath).as_posix()
    return Snapshots(bool(request.config.getoption("--snapshot-update")), test)
