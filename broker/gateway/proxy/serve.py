"""Both front ends in one event loop: uvicorn serving path mode (its lifespan starts the
gateway: upstream pool, revocation feed, audit commits) and the forward proxy beside it,
sharing the one pipeline, audit chain and upstream pool."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

from broker.gateway.app import Gateway
from broker.gateway.proxy.ca import LeafCache
from broker.gateway.proxy.checks import Authority
from broker.gateway.proxy.listener import ProxyListener
from broker.httpguard import ServerLimits


class FrontEnds:
    def __init__(
        self,
        gateway: Gateway,
        leaves: LeafCache,
        *,
        proxy_host: str,
        proxy_port: int,
        passthrough: frozenset[Authority] = frozenset(),
        max_connections_per_client: int = ServerLimits().max_connections_per_client,
        **server_options: Any,
    ) -> None:
        self.server = uvicorn.Server(uvicorn.Config(gateway, **server_options))
        self.listener = ProxyListener(
            gateway.pipeline,
            leaves,
            passthrough,
            max_connections_per_client=max_connections_per_client,
        )
        self.proxy_host, self.proxy_port = proxy_host, proxy_port
        self.proxy_started = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.proxy_port = await self.listener.start(self.proxy_host, self.proxy_port)
        self.proxy_started = True
        try:
            await self.server.serve(sockets=sockets)
        finally:
            await self.listener.close()

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        """Run until told to exit (a signal, or ``server.should_exit``)."""
        with asyncio.Runner(loop_factory=self.server.config.get_loop_factory()) as runner:
            runner.run(self.serve(sockets))


class FrontEndsThread:
    """Both front ends of one gateway on free loopback ports, in a thread of their own
    (the demo and the tests; ``gateway serve --proxy-port`` runs ``FrontEnds`` itself)."""

    def __init__(
        self,
        gateway: Gateway,
        leaves: LeafCache,
        *,
        host: str = "127.0.0.1",
        passthrough: frozenset[Authority] = frozenset(),
    ) -> None:
        from broker.gateway.server import ProblemHttpToolsProtocol

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self.url = f"http://{host}:{self._sock.getsockname()[1]}"
        self.host = host
        self.front = FrontEnds(
            gateway,
            leaves,
            proxy_host=host,
            proxy_port=0,
            passthrough=passthrough,
            log_level="warning",
            access_log=False,
            lifespan="on",
            log_config=None,
            http=ProblemHttpToolsProtocol,
        )
        self._thread = threading.Thread(target=self.front.run, args=([self._sock],), daemon=True)

    @property
    def proxy_port(self) -> int:
        return self.front.proxy_port

    def start(self, timeout_s: float = 15.0) -> FrontEndsThread:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not (self.front.server.started and self.front.proxy_started):
            if not self._thread.is_alive():
                raise RuntimeError("the gateway's front ends stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway's front ends did not start in time")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.front.server.should_exit = True
        self._thread.join(15)
        self._sock.close()
