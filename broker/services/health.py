"""The broker's dependencies checked in the background, so probes answer in milliseconds.

Each ``Check`` is a blocking probe (the schema is current, the secret backend answers, the
signer signs, the keyset reloads) run every ``interval`` seconds in a worker thread, one
run at a time, within ``deadline``. ``/readyz`` reports the last outcomes; a probe still
hung past its deadline reports ``unavailable (timeout)``, and one whose last outcome is
older than ``stale_after`` reports ``unavailable (stale)``. A hung dependency ties up at
most one thread per check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from broker.clock import Clock
from broker.services.signing import describe_failure

log = logging.getLogger("capbroker.health")
OK = "ok"


@dataclass
class Check:
    name: str
    probe: Callable[[], object]
    status: str = "unavailable (not checked yet)"
    checked_at: float = float("-inf")
    _running: asyncio.Future[object] | None = field(default=None, repr=False)

    async def run(self, *, deadline: float, now: Callable[[], float]) -> None:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(asyncio.to_thread(self.probe))
        try:
            await asyncio.wait_for(asyncio.shield(self._running), deadline)
        except TimeoutError:
            self.status = "unavailable (timeout)"
        except Exception as exc:  # any fault means unusable; report its code, not its text
            self.status = f"unavailable ({describe_failure(exc)})"
        else:
            self.status = OK
        self.checked_at = now()


class Monitor:
    """Runs the checks now and then every ``interval`` seconds until stopped."""

    def __init__(
        self,
        checks: list[Check],
        *,
        clock: Clock,
        interval: float = 2.0,
        deadline: float = 3.0,
        stale_after: float = 15.0,
    ) -> None:
        self.checks = checks
        self.clock = clock
        self.interval, self.deadline, self.stale_after = interval, deadline, stale_after
        self._task: asyncio.Task[None] | None = None

    async def round(self) -> None:
        await asyncio.gather(*(c.run(deadline=self.deadline, now=self.clock) for c in self.checks))

    def report(self) -> dict[str, str]:
        now = self.clock()
        return {
            c.name: c.status if now - c.checked_at <= self.stale_after else "unavailable (stale)"
            for c in self.checks
        }

    async def start(self) -> None:
        """The first round (bounded by ``deadline``), then the rest in a task."""
        if self._task is None:
            await self.round()
            self._task = asyncio.get_running_loop().create_task(self._forever())

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.round()
            except Exception as exc:  # keep checking; the report goes stale meanwhile
                log.warning("health round failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
