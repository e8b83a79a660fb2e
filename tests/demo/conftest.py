"""The demo provider served by uvicorn on a free loopback port, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from broker.clock import FrozenClock
from broker.demo.provider import ProviderState, RequestLog, ServerThread, create_provider_app

from .provider_support import NOW, Provider, make_keys


@pytest.fixture(scope="module")
def _server() -> Iterator[Provider]:
    master_key, admin_token = make_keys()
    clock = FrozenClock(NOW)
    state = ProviderState(clock)
    log = RequestLog(redact=(master_key, admin_token))
    app = create_provider_app(master_key, admin_token, clock=clock, state=state, log=log)
    with (
        ServerThread(app, ready_timeout=10) as server,
        httpx.Client(base_url=server.url, timeout=5) as http,
    ):
        yield Provider(server.url, state, log, clock, master_key, admin_token, http)


@pytest.fixture
def provider(_server: Provider) -> Provider:
    _server.clock.now = NOW
    _server.state.reset()
    _server.log.clear()
    return _server
