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
from broker.gateway.expiring import release_free_memory
from broker.gateway.forward import CLIENT_GONE
from broker.gateway.framing import BodyStream, upgrade_refusal, upgrade_requested
from broker.gateway.outcome import Attempt, DryRun, Forward, Refusal
from broker.gateway.pipeline import Pipeline
from broker.gateway.recording import AuditStore
from broker.gateway.relay import ClientWatch, relay
from broker.gateway.request import GatewayRequest
from broker.gateway.revocations import RevocationFeed
from broker.gateway.sender import challenge, path_mode_url
from broker.gateway.startup import start_waiting_for_keys
from broker.gateway.tokens import GatewayKeys
from broker.gateway.upstream import Upstream
from broker.metrics.endpoint import MetricsEndpoint
from broker.problems import problem_body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
HEALTH = ("/healthz", "/readyz")
# How often what the gateway keeps per token is swept of expired tokens, and how many
# entries a sweep must free before the freed memory is handed back to the system.
SWEEP_INTERVAL = 5.0
TRIM_AFTER = 500


class Gateway:
    def __init__(
        self,
        pipeline: Pipeline,
        *,
        feed: RevocationFeed,
        keys: GatewayKeys,
        store: AuditStore,
        upstream: Upstream,
        public_url: str = "",
    ) -> None:
        self.pipeline, self.feed, self.keys = pipeline, feed, keys
        self.public_url = public_url  # settings.gateway_public_url: what DPoP htu names
        self.store, self.upstream = store, upstream
        self.metrics: MetricsEndpoint | None = None  # the private /metrics port, if set
        self._keys_wait: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.store.checkpointer is not None:
            self.store.checkpointer.start()
        await self.upstream.start()
        # The broker may not be up yet: wait for its JWKS in the background, not ready.
        self._keys_wait = start_waiting_for_keys(self.keys)
        await self.feed.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        if self.metrics is not None:
            self.metrics.start()

    async def stop(self) -> None:
        if self._keys_wait is not None:
            self._keys_wait.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.store.committer.drain()
        self.store.committer.close()
        if self.store.checkpointer is not None:
            self.store.checkpointer.stop()
        await self.feed.stop()
        await self.upstream.close()
        if self.metrics is not None:
            self.metrics.stop()

    async def _sweep_forever(self) -> None:
        """Expired tokens' cache entries leave, so memory returns to its baseline."""
        authenticator = self.pipeline.authenticator
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            if authenticator.sweep(authenticator.tokens.clock()) >= TRIM_AFTER:
                # off the loop: it takes the allocator's locks for a few milliseconds
                await asyncio.to_thread(release_free_memory)

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
            path_mode_url(self.public_url, scope.get("scheme", "http"), scope["headers"], target),
        )
        try:
            match await self.pipeline.run(request):
                case Forward() as forward:
                    await self._forward(forward, waiting, send)
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

    async def _forward(self, forward: Forward, waiting: AsgiWaiting, send: Send) -> None:
        """Send the call and stream the answer back through the redactor; a failure before
        the answer starts is a refusal like any other (audited, problem+json). The answer's
        headers go out as soon as the provider sends them; a client that goes away closes
        the upstream connection at once; a provider that breaks off mid-answer breaks the
        client's connection off too (``relay.py``). The completion event says which."""
        forwarder = self.pipeline.forwarder
        watch = ClientWatch(waiting.left)
        status, ended = 0, None
        try:
            response = await forwarder.send(forward)
            async with response:
                status = response.status
                headers, redactor = forwarder.answer(response)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                ended = await relay(response, redactor, send, forward.attempt)
        except BrokerError as error:
            watch.stop()  # the refusal is written whoever still listens
            # An aborted body stream is why the upstream request failed: record that.
            cause = _stream_failure(forward) or error
            await _problem(send, await self.pipeline.refuse(forward.attempt, cause))
            return
        except asyncio.CancelledError:
            if not watch.left:
                raise  # not the client leaving: the server is stopping
            ended = CLIENT_GONE
        finally:
            watch.stop()
        self.pipeline.completed(forward, status, ended=ended)


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
    error = refusal.error
    asked = challenge(error)  # RFC 9449 7.1, for a DPoP refusal
    extra = ((b"www-authenticate", asked),) if asked is not None else ()
    await _json(send, error.status, problem_body(error), problem=True, extra=extra)


def _encoded(
    body: dict[str, Any],
    *,
    problem: bool,
    close: bool,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/problem+json" if problem else b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if close:
        headers.append((b"connection", b"close"))
    headers.extend(extra)
    return headers, payload


async def _json(
    send: Send,
    status: int,
    body: dict[str, Any],
    *,
    problem: bool = False,
    close: bool = False,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers, payload = _encoded(body, problem=problem, close=close, extra=extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
