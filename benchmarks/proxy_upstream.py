"""A minimal fast upstream for the proxy benchmarks: raw ASGI, small fixed JSON answers.

``GET /anything`` answers an item, ``POST /graphql`` a GraphQL result; the request body
is read and dropped. Every proxy row of the ``gateway`` scenario (direct, nginx, the
plain Python proxy, the gateway) talks to this same server, so only the proxy differs.

Run: ``python -m benchmarks.proxy_upstream --port 8124`` (one uvicorn worker, uvloop,
httptools, no access log: ``benchmarks.harness.UVICORN_SETTINGS``).
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from benchmarks.harness import uvicorn_serve

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ITEM = b'{"id":"1","name":"widget","environment":"staging","ok":true}'
GRAPHQL = b'{"data":{"item":{"id":"1","name":"widget"}}}'
NOT_FOUND = b'{"error":"not found"}'


def _start(status: int, body: bytes) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # read and drop the request body
        message = await receive()
        more = message.get("more_body", False)
    method = scope["method"]
    if method in ("GET", "HEAD"):
        body = ITEM
    elif method == "POST" and scope["path"] == "/graphql":
        body = GRAPHQL
    else:
        await send(_start(404, NOT_FOUND))
        await send({"type": "http.response.body", "body": NOT_FOUND})
        return
    await send(_start(200, body))
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    gc.collect()
    gc.freeze()
    uvicorn_serve(app, args.port)


if __name__ == "__main__":
    main()
