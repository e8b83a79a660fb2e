"""One Railway replica per test module, on a free loopback port; reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from broker.clock import FrozenClock
from broker.demo.railway import IDS, serve_replica

from .railway_support import NOW, Replica, make_tokens


@pytest.fixture(scope="module")
def _replica() -> Iterator[Replica]:
    tokens = make_tokens()
    clock = FrozenClock(NOW)
    server = serve_replica(
        tokens["master_key"],
        tokens["admin_token"],
        clock=clock,
        workspace_token=tokens["workspace_token"],
        project_tokens={tokens["project_token"]: (IDS.shop, IDS.shop_staging)},
    )
    with server, httpx.Client(base_url=server.url, timeout=5) as http:
        yield Replica(server, clock, http=http, **tokens)


@pytest.fixture
def replica(_replica: Replica) -> Replica:
    _replica.clock.now = NOW
    _replica.server.state.reset()
    _replica.server.log.clear()
    return _replica
