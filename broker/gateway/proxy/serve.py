"""Both front ends in one event loop: uvicorn serving path mode (its lifespan starts the
gateway: upstream pool, revocation feed, audit commits) and the forward proxy beside it,
sharing the one pipeline, audit chain and upstream pool."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from broker.gateway.app import Gateway
from broker.gateway.proxy.ca import LeafCache
from broker.gateway.proxy.listener import ProxyListener


class FrontEnds:
    def __init__(
        self,
        gateway: Gateway,
        leaves: LeafCache,
        *,
        proxy_host: str,
        proxy_port: int,
        **server_options: Any,
    ) -> None:
        self.server = uvicorn.Server(uvicorn.Config(gateway, **server_options))
        self.listener = ProxyListener(gateway.pipeline, leaves)
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
