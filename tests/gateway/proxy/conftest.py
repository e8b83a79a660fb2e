"""One proxy stack per module (SQLite); each test starts from a fresh replica."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.proxy.proxy_stack import ProxyStack, build_proxy_stack


@pytest.fixture(scope="module")
def _proxy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyStack]:
    tmp = tmp_path_factory.mktemp("proxy-stack")
    yield from build_proxy_stack(tmp, f"sqlite:///{tmp}/capbroker.db")


@pytest.fixture
def px(_proxy_stack: ProxyStack) -> ProxyStack:
    _proxy_stack.reset()
    return _proxy_stack
