"""Fixtures: the capbroker command run in-process on a data directory of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.cli_support import Run, runner_on


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path) -> Run:
    return runner_on(data_dir)
