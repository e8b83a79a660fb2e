"""Webhook notifications for new pending approvals: JSON, HMAC-signed, retried with backoff.

Sent from a background task after the decision is durable, so a slow or failing receiver
never delays the gateway's answer. The signature header reads
``X-Capbroker-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`` with the timestamp
in ``X-Capbroker-Timestamp``, so a receiver can refuse replays of old deliveries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp

from broker.clock import Clock

log = logging.getLogger("capbroker.gateway.notify")
BACKOFF: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class ApprovalWebhook:
    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        clock: Clock,
        backoff: Sequence[float] = BACKOFF,
        timeout: float = 5.0,
    ) -> None:
        self.url, self._secret, self._clock = url, secret, clock
        self._backoff = tuple(backoff)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._tasks: set[asyncio.Task[bool]] = set()

    def __repr__(self) -> str:
        return f"ApprovalWebhook(url={self.url!r})"

    def notify(self, event: dict[str, Any]) -> None:
        """Deliver in the background; returns at once."""
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver(self, event: dict[str, Any]) -> bool:
        body = json.dumps(event, sort_keys=True).encode()
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            for attempt, pause in enumerate((0.0, *self._backoff)):
                if pause:
                    await asyncio.sleep(pause)
                timestamp = str(int(self._clock()))
                headers = {
                    "Content-Type": "application/json",
                    "X-Capbroker-Timestamp": timestamp,
                    "X-Capbroker-Signature": signature(self._secret, timestamp, body),
                    "X-Capbroker-Delivery-Attempt": str(attempt + 1),
                }
                try:
                    async with session.post(self.url, data=body, headers=headers) as answer:
                        if 200 <= answer.status < 300:
                            return True
                        log.warning(
                            "approval webhook answered %s (attempt %d)", answer.status, attempt + 1
                        )
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning(
                        "approval webhook unreachable (%s, attempt %d)",
                        type(exc).__name__,
                        attempt + 1,
                    )
        log.error("approval webhook gave up after %d attempts", len(self._backoff) + 1)
        return False
