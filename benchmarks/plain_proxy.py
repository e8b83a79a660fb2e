"""The fastest plain Python reverse proxy we could write here: no checks at all.

Raw ASGI under uvicorn (one worker, uvloop, httptools: the gateway's settings), one
pooled aiohttp ``ClientSession``, the gateway's own (``broker.gateway.upstream.Upstream``;
aiohttp, not httpx: several times faster as a forwarding client on these machines),
bodies streamed both ways. A request whose body
arrived in one ASGI message is sent as bytes (what aiohttp does fastest); a longer one is
streamed as it arrives. Start-up objects are frozen out of the GC and the gen-0
threshold raised, as ``capbroker gateway serve`` does, so the comparison is like for like.

It is the baseline for the gateway's targets (benchmarks/gateway_proxy.py).

Run: ``python -m benchmarks.plain_proxy --port 8125 --upstream http://127.0.0.1:8124``
(``--workers N`` for N processes on the port, as ``gateway serve --workers N``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from yarl import URL

from benchmarks.harness import HOST
from broker.gateway.headers import HOP_BY_HOP
from broker.gateway.server import SERVER_OPTIONS
from broker.gateway.upstream import Upstream
from broker.workers import tune_gc

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# Hop-by-hop fields (the gateway's own list) and the ones aiohttp sets itself.
DROPPED = HOP_BY_HOP | {b"host", b"content-length"}
# An answer keeps its Content-Length (uvicorn then sends it as is, not chunked).
RESPONSE_DROPPED = HOP_BY_HOP
UPSTREAM_ENV = "PLAIN_PROXY_UPSTREAM"  # how workers learn the upstream


class PlainProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        # The gateway's own pooled client (same pool, timeouts, headers), used directly.
        self.client = Upstream()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.client.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k not in DROPPED
        ]
        target = self.upstream + (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"")
        if query:
            target += "?" + query.decode("latin-1")
        first = await receive()
        data: bytes | AsyncIterator[bytes] | None
        if first.get("more_body", False):
            data = _rest_of_body(first.get("body", b""), receive)
        else:
            data = first.get("body", b"") or None
        async with self.client.session.request(
            scope["method"],
            URL(target, encoded=True),
            headers=headers,
            data=data,
            allow_redirects=False,
        ) as response:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [
                        (k.lower(), v)
                        for k, v in response.raw_headers
                        if k.lower() not in RESPONSE_DROPPED
                    ],
                }
            )
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _rest_of_body(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    yield first
    while True:
        message = await receive()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def app_from_environment() -> PlainProxy:
    """One worker's proxy (``--workers`` above 1)."""
    app = PlainProxy(os.environ[UPSTREAM_ENV])
    tune_gc()
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # The gateway's own server settings, with plain httptools for its protocol.
    options = {**SERVER_OPTIONS, "http": "httptools", "host": HOST, "port": args.port}
    if args.workers > 1:
        os.environ[UPSTREAM_ENV] = args.upstream
        uvicorn.run(
            "benchmarks.plain_proxy:app_from_environment",
            factory=True,
            workers=args.workers,
            **options,
        )
        return
    app = PlainProxy(args.upstream)
    tune_gc()
    uvicorn.run(app, **options)


if __name__ == "__main__":
    main()
