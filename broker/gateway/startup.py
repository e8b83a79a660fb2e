"""The gateway may start before the broker (a first install starts both at once): instead of
exiting, and crash-looping, it keeps asking for the JWKS with capped exponential backoff.
Until the keys arrive /readyz answers 503 ("jwks": "empty") and no token verifies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

from broker.errors import Unavailable
from broker.gateway.tokens import GatewayKeys

log = logging.getLogger("capbroker.gateway")

Sleep = Callable[[float], Awaitable[None]]


def backoff_delays(first: float = 0.5, factor: float = 2.0, cap: float = 15.0) -> Iterator[float]:
    """0.5, 1, 2, 4, 8, 15, 15, ... seconds: quick while both start together, then a
    steady, modest rate against a broker that is down for longer."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * factor)


async def wait_for_keys(
    keys: GatewayKeys, *, delays: Iterator[float] | None = None, sleep: Sleep = asyncio.sleep
) -> None:
    """Fetch the JWKS until it holds a key. The fetch blocks, so it runs in a thread."""
    for attempt, delay in enumerate(delays or backoff_delays(), start=1):
        try:
            await asyncio.to_thread(keys.refresh, force=True)
        except Unavailable as exc:
            log.warning("the broker's JWKS is not available yet (attempt %d): %s", attempt, exc)
        if keys.known_any():
            return
        await sleep(delay)


def start_waiting_for_keys(keys: GatewayKeys) -> asyncio.Task[None] | None:
    """None when the keys are already known; else the background task fetching them."""
    try:
        keys.refresh(force=True)
    except Unavailable as exc:
        log.warning("the broker's JWKS is not available yet; retrying with backoff: %s", exc)
    if keys.known_any():
        return None
    return asyncio.get_running_loop().create_task(wait_for_keys(keys))
