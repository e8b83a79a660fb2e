"""Blocking calls to a dependency (Vault, a database), made off the event loop.

``BlockingCalls`` owns a few worker threads for one dependency, so a hung dependency can
tie up only its own threads (asyncio's shared default pool also serves the database and
the slow credential hash). Each ``call`` has one deadline covering its retries: a fault
(``Unavailable``) is tried again after a short pause while time remains, anything else is
the answer. Past the deadline the caller gets the dependency's 503 at once; the thread
finishes in the background and its result is dropped. When every thread is busy and the
queue is full, calls are refused at once instead of queueing behind a hung dependency.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from broker.errors import Reason, Unavailable

T = TypeVar("T")
RETRY_PAUSE_S = 0.05


class BlockingCalls:
    def __init__(
        self,
        name: str,
        reason: Reason,
        *,
        deadline: float,
        workers: int = 4,
        attempts: int = 2,
        max_waiting: int = 64,
    ) -> None:
        self.name, self.reason = name, reason
        self.deadline, self.attempts = deadline, attempts
        self.max_in_flight = workers + max_waiting
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=name)
        self.in_flight = 0  # submitted and not finished (hung threads included)
        self.timeouts = 0  # for tests and metrics: calls answered 503 at their deadline

    def __repr__(self) -> str:
        return f"BlockingCalls({self.name!r}, deadline={self.deadline}, in_flight={self.in_flight})"

    async def call(self, fn: Callable[..., T], *args: object, deadline: float | None = None) -> T:
        """``fn(*args)`` in a worker thread, within ``deadline`` seconds (default: the
        dependency's), tried again on ``Unavailable`` while time remains."""
        until = time.monotonic() + (self.deadline if deadline is None else deadline)
        for attempt in range(1, self.attempts + 1):
            try:
                return await self._once(fn, args, until)
            except Unavailable:
                pause = min(RETRY_PAUSE_S * attempt, until - time.monotonic())
                if attempt == self.attempts or pause <= 0:
                    raise
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, fn: Callable[..., T], args: tuple[object, ...], until: float) -> T:
        if self.in_flight >= self.max_in_flight:
            busy = f"{self.name} is not answering (every worker is busy)"
            raise Unavailable(busy, reason=self.reason)
        loop = asyncio.get_running_loop()
        self.in_flight += 1
        future = loop.run_in_executor(self._pool, functools.partial(fn, *args))
        future.add_done_callback(self._finished)
        try:
            async with asyncio.timeout_at(loop.time() + max(0.0, until - time.monotonic())):
                return await asyncio.shield(future)
        except TimeoutError:
            self.timeouts += 1
            raise Unavailable(f"{self.name} did not answer in time", reason=self.reason) from None

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self.in_flight -= 1
        if not future.cancelled():
            future.exception()  # retrieved: a late fault of an abandoned call is not news

    def close(self) -> None:
        """Stop taking work; threads still hung on the dependency are left to finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
