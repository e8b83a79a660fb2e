"""Group commit: many requests' writes share one transaction and one commit.

A request hands a *unit* (a function of a ``Tx``) to ``run`` and awaits it. Units queue
while the event loop serves other requests; one flush then runs every queued unit in
its own savepoint inside a single transaction and commits once. A unit's result is
released only after that commit, so nothing leaves the process before it is durable.
A unit that raises is rolled back alone; a failed commit fails every unit in the batch.

The flush runs synchronously on the event loop: SQLite serialises writers anyway, and
measurements showed threads collapsing the latency tail (docs/decisions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from broker.errors import BrokerError
from broker.store.database import Database, Tx

T = TypeVar("T")
Unit = Callable[[Tx], Any]


class GroupCommit:
    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self.max_batch = max_batch
        self._pending: list[tuple[Unit, asyncio.Future[Any]]] = []
        self._scheduled = False
        self.batches = 0  # for tests and metrics: how many commits served the units

    async def run(self, unit: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((unit, future))
        if not self._scheduled:
            self._scheduled = True
            # call_soon: requests that became ready in this loop iteration join the batch.
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        if self._pending:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.db.transaction() as tx:
                for unit, _ in batch:
                    try:
                        with tx.savepoint():
                            outcomes.append((True, unit(tx)))
                    except BrokerError as refusal:
                        outcomes.append((False, refusal))
            self.batches += 1
        except Exception as fault:  # the commit (or the database) failed: nobody gets a result
            for _, future in batch:
                if not future.done():
                    future.set_exception(fault)
            return
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():  # the client went away
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
