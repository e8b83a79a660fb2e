"""A tiny raw-ASGI upstream that reports what reached it (served on loopback by uvicorn).

- ``GET /echo``, ``POST /echo``, ``PUT /upload/{name}``: JSON with the method, path, query,
  every header exactly as received (a list of pairs), the SHA-256 of each X-Api-Key value,
  and the body's length and SHA-256. Each such report is also kept in ``RECEIVED`` (this
  process's requests, newest last), so a test can check what reached the upstream.
- ``GET /big/{size}``: ``size`` pseudo-random bytes (seeded by ``size``) in 64 KiB chunks.
- ``GET /leak/{split}``: echoes the X-Api-Key value it received in a response header and
  in a body sent as two chunks, split ``split`` bytes into the value.
- ``GET /leak-gzip``: the same value in a gzip-compressed body when the request accepts gzip.

``ARRIVED`` lists the method and path of every HTTP request that reached the server, in
order, so a test can show that a refused call reached nothing (the server runs in the
test's process).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
CHUNK = 64 * 1024
KEY_HEADER = b"x-api-key"
ARRIVED: deque[tuple[str, str]] = deque(maxlen=10_000)
RECEIVED: deque[dict[str, Any]] = deque(maxlen=1000)


def big_payload(size: int) -> bytes:
    return random.Random(size).randbytes(size)


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
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
    path: str = scope["path"]
    ARRIVED.append((scope["method"], path))
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    key = b"".join(v for k, v in headers if k == KEY_HEADER)
    if path.startswith("/big/"):
        payload = big_payload(int(path.removeprefix("/big/")))
        await _start(send, 200, [(b"content-type", b"application/octet-stream")])
        for i in range(0, len(payload), CHUNK):
            piece = payload[i : i + CHUNK]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path.startswith("/leak/"):
        split = int(path.removeprefix("/leak/"))
        await _start(send, 200, [(b"content-type", b"text/plain"), (b"x-echo-key", b"got " + key)])
        first, second = b"received: " + key[:split], key[split:] + b" (end)"
        await send({"type": "http.response.body", "body": first, "more_body": True})
        await send({"type": "http.response.body", "body": second})
        return
    if path == "/leak-gzip":
        accept = b"".join(v for k, v in headers if k == b"accept-encoding")
        body = b"received: " + key
        extra: list[tuple[bytes, bytes]] = []
        if b"gzip" in accept:
            body = gzip.compress(body)
            extra.append((b"content-encoding", b"gzip"))
        await _start(send, 200, [(b"content-type", b"text/plain"), *extra])
        await send({"type": "http.response.body", "body": body})
        return
    size, digest = 0, hashlib.sha256()
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        digest.update(chunk)
        if not message.get("more_body", False):
            break
    report = {
        "method": scope["method"],
        "path": path,
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers],
        # the gateway redacts the key in what we send back: report it as digests too
        "key_sha256": [hashlib.sha256(v).hexdigest() for k, v in headers if k == KEY_HEADER],
        "body_length": size,
        "body_sha256": digest.hexdigest(),
    }
    RECEIVED.append(report)
    await _start(send, 200, [(b"content-type", b"application/json")])
    await send({"type": "http.response.body", "body": json.dumps(report).encode()})


async def read_body(receive: Receive) -> bytes:
    """The whole request body, however the server split it into messages."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
