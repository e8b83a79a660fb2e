"""Master keys off the event loop: cached, refreshed in the background, read with a deadline
(over the in-memory secret store, gated so a test decides when a read answers)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from broker.blocking import BlockingCalls
from broker.clock import FrozenClock
from broker.errors import Reason, Unavailable
from broker.gateway.masterkeys import MasterKeys
from broker.secrets.location import KeyLocation
from broker.secrets.memory import MemorySecretStore

NAME = "providers/echo/master-key"
LOCATION = KeyLocation(name=NAME)


class GatedStore(MemorySecretStore):
    """Reads wait until ``gate`` is set (a hung backend while it is clear)."""

    def __init__(self) -> None:
        super().__init__({NAME: b"key-one"})
        self.gate = threading.Event()
        self.gate.set()
        self.reads = 0

    def get(self, name: str) -> bytes:
        self.reads += 1
        self.gate.wait(timeout=5)
        if not self.gate.is_set():
            raise Unavailable("hung", reason=Reason.SECRET_BACKEND_UNAVAILABLE)
        return super().get(name)


def keys_over(store: GatedStore, clock: FrozenClock, *, deadline: float = 0.3) -> MasterKeys:
    calls = BlockingCalls("secret backend", Reason.SECRET_BACKEND_UNAVAILABLE, deadline=deadline)
    return MasterKeys(store, clock=clock, ttl=10.0, calls=calls)


def test_a_key_is_read_once_then_served_from_the_cache() -> None:
    store, clock = GatedStore(), FrozenClock(1000.0)
    keys = keys_over(store, clock)

    async def run() -> None:
        await asyncio.gather(*(keys.load(LOCATION) for _ in range(10)))  # one read for all
        clock.advance(4.9)
        await keys.load(LOCATION)

    asyncio.run(run())
    assert keys.get(LOCATION) == "key-one"
    assert store.reads == 1
    assert keys.all_cached() == (b"key-one",)
    assert "key-one" not in repr(keys)
    keys.close()


def test_a_due_refresh_does_not_delay_calls_and_a_key_past_its_ttl_is_refused() -> None:
    store, clock = GatedStore(), FrozenClock(1000.0)
    keys = keys_over(store, clock)

    async def run() -> tuple[float, float]:
        await keys.load(LOCATION)
        store.gate.clear()  # the backend hangs from now on
        clock.advance(6.0)  # past refresh_after (5 s), within the ttl (10 s)
        started = time.perf_counter()
        await keys.load(LOCATION)  # starts the refresh, does not wait for it
        served = time.perf_counter() - started
        assert keys.get(LOCATION) == "key-one"
        clock.advance(4.5)  # past the ttl: the key is not used any more
        with pytest.raises(Unavailable) as refused:
            keys.get(LOCATION)
        assert refused.value.reason is Reason.SECRET_BACKEND_UNAVAILABLE
        started = time.perf_counter()
        with pytest.raises(Unavailable):
            await keys.load(LOCATION)  # waits for the read, at most the deadline
        return served, time.perf_counter() - started

    served, refused_in = asyncio.run(run())
    store.gate.set()
    assert served < 0.05, served
    assert refused_in < 0.3 + 0.2, refused_in
    keys.close()


def test_blocking_calls_retry_a_fault_within_the_deadline_and_refuse_when_busy() -> None:
    failures = [Unavailable("once", reason=Reason.SECRET_BACKEND_UNAVAILABLE)]

    def flaky() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    hang = threading.Event()
    calls = BlockingCalls(
        "dep", Reason.SECRET_BACKEND_UNAVAILABLE, deadline=0.2, workers=1, max_waiting=0
    )

    async def run() -> None:
        assert await calls.call(flaky) == "ok"  # the fault was tried again
        hung = asyncio.ensure_future(calls.call(hang.wait, 5))
        await asyncio.sleep(0.05)
        with pytest.raises(Unavailable, match="every worker is busy"):
            await calls.call(flaky)
        with pytest.raises(Unavailable, match="did not answer in time"):
            await hung

    asyncio.run(run())
    hang.set()
    assert calls.timeouts == 1
    calls.close()
