"""Fixtures for the console tests: the gateway stack plus the broker app on a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker.api.app import create_app
from broker.demo.provider.server import ServerThread
from tests.console.console_support import Console
from tests.support.stack import build_stack


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console-stack")
    for stack in build_stack(tmp, f"sqlite:///{tmp}/capbroker.db"):
        created = stack.services.principals.create("admin", "ops", actor="test")
        server = ServerThread(create_app(stack.services)).start()
        try:
            yield Console(stack, server.url, created.credential, created.principal.id)
        finally:
            server.stop()
