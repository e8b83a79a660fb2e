"""Fixtures for the broker API tests (the helpers live in tests/support/broker_app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.clock import FrozenClock
from tests.support.broker_app import NOW, Broker, make_broker


@pytest.fixture
def broker(tmp_path: Path, database_url: str) -> Iterator[Broker]:
    b = make_broker(tmp_path, database_url, FrozenClock(NOW))
    with b.client:
        yield b
    b.services.close()
