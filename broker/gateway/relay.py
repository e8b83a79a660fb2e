"""Relaying a forwarded call's answer: its body through the redactor, and a watch that
ends the call when its client leaves, so the upstream connection closes at once.

A failure mid-answer is a value, not an exception: ``relay`` returns how the answer
ended (``forward.py``: ``upstream_deadline``, ``upstream_broke_off``) after one log line,
and the front end records it with the call's completion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import ClientError, ClientResponse

from broker.gateway.forward import broken_off
from broker.gateway.outcome import Attempt
from broker.gateway.redact import StreamRedactor

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def relay(
    response: ClientResponse, redactor: StreamRedactor, send: Send, attempt: Attempt
) -> str | None:
    """The answer's body through the redactor to ASGI ``send``; how it ended if it did not
    end whole. Returning without the last body message breaks the client's connection
    off, so a truncated answer never looks complete."""
    sent = 0
    try:
        async for chunk in response.content.iter_any():
            cleaned = redactor.feed(chunk)
            if cleaned:
                sent += len(cleaned)
                await send({"type": "http.response.body", "body": cleaned, "more_body": True})
    except (ClientError, TimeoutError) as exc:
        response.close()
        return broken_off(exc, attempt, sent)
    await send({"type": "http.response.body", "body": redactor.finish(), "more_body": False})
    return None


class ClientWatch:
    """Cancels the task relaying a call when ``left`` is set (its client went away); the
    cancelled call closes its upstream connection on the way out."""

    def __init__(self, left: asyncio.Event) -> None:
        self.left = False
        self._handler = asyncio.current_task()
        self._task = asyncio.ensure_future(self._wait(left))

    async def _wait(self, left: asyncio.Event) -> None:
        await left.wait()
        if self._handler is not None:
            self.left = True
            self._handler.cancel()

    def stop(self) -> None:
        self._handler = None
        self._task.cancel()
