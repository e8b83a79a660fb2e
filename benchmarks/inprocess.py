"""Driving ASGI apps inside the benchmark's own process: requests fed straight to the app,
CPU time of this process per request, and a fixed workload to tell a slow minute from a
slow variant. Used by the diagnostics that compare variants too close for wrk to resolve
(``gateway_stages``, ``gateway_flatness``)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from benchmarks.gateway_proxy import GatewayStack, RequestKind
from broker.gateway.app import Gateway
from broker.gateway.factory import build_gateway, load_providers
from broker.settings import load_settings

App = Callable[..., Awaitable[None]]
Scope = MutableMapping[str, Any]


def request_scope(path: str, kind: RequestKind, token: str) -> tuple[Scope, bytes]:
    """An HTTP scope for ``kind`` at ``path`` with the capability token, and its body."""
    body = (kind.body or "").encode()
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())]
    if body:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    scope = {
        "type": "http",
        "method": kind.method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }
    return scope, body


async def _one(app: App, scope: Scope, body: bytes) -> int:
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        # As a server does: after the body, receive waits until the client disconnects
        # (the gateway watches for that while it decides).
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def cpu_us_per_request(app: App, scope: Scope, body: bytes, n: int, c: int) -> float:
    """``n`` requests, ``c`` at a time; every answer must be 200."""
    started = time.process_time()
    done = 0
    while done < n:
        statuses = await asyncio.gather(*[_one(app, scope, body) for _ in range(c)])
        if set(statuses) != {200}:
            raise SystemExit(f"unexpected answers {sorted(set(statuses))}")
        done += c
    return (time.process_time() - started) / done * 1e6


def reference_us() -> float:
    """A fixed pure-Python workload (JSON, sorting, string joins), per iteration."""
    doc = {"a": [1, 2, 3], "b": "x" * 50, "c": {"d": 1.5, "e": None}}
    started = time.process_time()
    for _ in range(3000):
        json.dumps(doc, sort_keys=True)
        sorted(doc)
        "-".join(str(i) for i in range(10))
    return (time.process_time() - started) / 3000 * 1e6


async def started_gateway(stack: GatewayStack, rules: int = 10, data_dir: Any = None) -> Gateway:
    """A gateway in this process, as ``gateway serve`` builds it, over the stack's store (or
    a copy of it) with a map of ``rules`` rules; started (JWKS, revocations read)."""
    os.environ.update(stack.env)
    settings = load_settings(overrides={"data_dir": data_dir or stack.data_dir})
    gateway = build_gateway(settings, load_providers(stack.providers_file(rules)))
    await gateway.start()
    return gateway
