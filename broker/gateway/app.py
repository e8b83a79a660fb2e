"""The gateway's ASGI front end: transport only.

It turns an ASGI request into a ``GatewayRequest``, runs the pipeline
(``broker.gateway.pipeline``, where the checks are, in order) and renders what comes
back: a forwarded call streamed both ways, a dry run's decision, or a refusal as
problem+json. It also answers ``/healthz`` and ``/readyz`` and runs the lifespan.

A request to switch protocols (an ``Upgrade`` header, a WebSocket handshake, h2c) is
refused here, before the pipeline, as problem+json with refusal ``upgrade_not_supported``
(audited, connection closed): the gateway classifies HTTP requests only. uvicorn hands a
WebSocket handshake over as a ``websocket`` scope; it is refused at the handshake with the
same problem (the ASGI ``websocket.http.response`` extension), or a close (a 403) where
the server lacks it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from broker.errors import BrokerError
from broker.gateway.framing import BodyStream, upgrade_refusal, upgrade_requested
from broker.gateway.outcome import Attempt, DryRun, Forward, Refusal
from broker.gateway.pipeline import Pipeline
from broker.gateway.recording import AuditStore
from broker.gateway.request import GatewayRequest
from broker.gateway.revocations import RevocationFeed
from broker.gateway.startup import start_waiting_for_keys
from broker.gateway.tokens import GatewayKeys
from broker.gateway.upstream import Upstream
from broker.metrics.endpoint import MetricsEndpoint
from broker.problems import problem_body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
HEALTH = ("/healthz", "/readyz")


class Gateway:
    def __init__(
        self,
        pipeline: Pipeline,
        *,
        feed: RevocationFeed,
        keys: GatewayKeys,
        store: AuditStore,
        upstream: Upstream,
    ) -> None:
        self.pipeline, self.feed, self.keys = pipeline, feed, keys
        self.store, self.upstream = store, upstream
        self.metrics: MetricsEndpoint | None = None  # the private /metrics port, if set
        self._keys_wait: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.store.checkpointer is not None:
            self.store.checkpointer.start()
        await self.upstream.start()
        # The broker may not be up yet: wait for its JWKS in the background, not ready.
        self._keys_wait = start_waiting_for_keys(self.keys)
        await self.feed.start()
        if self.metrics is not None:
            self.metrics.start()

    async def stop(self) -> None:
        if self._keys_wait is not None:
            self._keys_wait.cancel()
        await self.store.committer.drain()
        self.store.committer.close()
        if self.store.checkpointer is not None:
            self.store.checkpointer.stop()
        await self.feed.stop()
        await self.upstream.close()
        if self.metrics is not None:
            self.metrics.stop()

    # --- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        target = raw_path.decode("latin-1")
        if scope["type"] == "websocket":
            await self._refuse_upgrade(scope, "GET", target, send)
            return
        if target in HEALTH:
            await self._health(target, send)
            return
        if upgrade_requested(scope["headers"]):
            await self._refuse_upgrade(scope, scope["method"], target, send)
            return
        waiting = AsgiWaiting(receive)
        request = GatewayRequest(
            scope["method"],
            target,
            scope.get("query_string", b"").decode("latin-1"),
            scope["headers"],
            receive,
            scope.get("client"),
            waiting,
        )
        try:
            match await self.pipeline.run(request):
                case Forward() as forward:
                    await self._forward(forward, send)
                case DryRun() as dry_run:
                    await _json(send, 200, dry_run.body())
                case Refusal() as refusal:
                    await _problem(send, refusal)
        finally:
            waiting.stop()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _health(self, path: str, send: Send) -> None:
        if path == "/healthz":
            await _json(send, 200, {"status": "ok"})
            return
        fresh = self.feed.fresh()
        ready = fresh and bool(self.keys.known_any())
        await _json(
            send,
            200 if ready else 503,
            {
                "status": "ready" if ready else "not ready",
                "checks": {
                    "revocations": "ok" if fresh else "stale",
                    "jwks": "ok" if self.keys.known_any() else "empty",
                },
            },
        )

    async def _refuse_upgrade(self, scope: Scope, method: str, target: str, send: Send) -> None:
        refusal = await self.pipeline.refuse(Attempt(method, target), upgrade_refusal())
        error = refusal.error
        if scope["type"] == "http":
            await _json(send, error.status, problem_body(error), problem=True, close=True)
        elif "websocket.http.response" in scope.get("extensions", {}):
            headers, payload = _encoded(problem_body(error), problem=True, close=True)
            start = {"type": "websocket.http.response.start", "status": error.status}
            await send({**start, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": payload})
        else:  # the server answers a close before accept with a 403
            await send({"type": "websocket.close", "code": 1008})

    # --- rendering ----------------------------------------------------------------------------

    async def _forward(self, forward: Forward, send: Send) -> None:
        """Send the call and stream the answer back through the redactor; a failure on the
        way is a refusal like any other (audited, problem+json)."""
        forwarder = self.pipeline.forwarder
        try:
            response = await forwarder.send(forward)
            async with response:
                headers, redactor = forwarder.answer(response)
                await send(
                    {"type": "http.response.start", "status": response.status, "headers": headers}
                )
                async for chunk in response.content.iter_any():
                    cleaned = redactor.feed(chunk)
                    if cleaned:
                        await send(
                            {"type": "http.response.body", "body": cleaned, "more_body": True}
                        )
                await send(
                    {"type": "http.response.body", "body": redactor.finish(), "more_body": False}
                )
        except BrokerError as error:
            # An aborted body stream is why the upstream request failed: record that.
            cause = _stream_failure(forward) or error
            await _problem(send, await self.pipeline.refuse(forward.attempt, cause))
            return
        self.pipeline.completed(forward, response.status)


class AsgiWaiting:
    """``ClientWaiting`` for one ASGI request: once the pipeline has read the body, one
    task waits on ``receive`` for ``http.disconnect`` (nothing else reads it any more) and
    sets ``left``. Stopped when the request ends."""

    __slots__ = ("_receive", "_task", "left")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[None] | None = None
        self.left = asyncio.Event()

    def watch(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._wait())

    async def _wait(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass  # an empty body the pipeline never asked for
        self.left.set()

    def gone(self) -> bool:
        return self.left.is_set()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _stream_failure(forward: Forward) -> BrokerError | None:
    return forward.body.failure if isinstance(forward.body, BodyStream) else None


async def _problem(send: Send, refusal: Refusal) -> None:
    await _json(send, refusal.error.status, problem_body(refusal.error), problem=True)


def _encoded(
    body: dict[str, Any], *, problem: bool, close: bool
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/problem+json" if problem else b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if close:
        headers.append((b"connection", b"close"))
    return headers, payload


async def _json(
    send: Send, status: int, body: dict[str, Any], *, problem: bool = False, close: bool = False
) -> None:
    headers, payload = _encoded(body, problem=problem, close=close)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
