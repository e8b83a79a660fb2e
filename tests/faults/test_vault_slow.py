"""Vault answering slowly (a real OpenBao behind a delaying TCP proxy).

The gateway: a provider whose master key is cached keeps its latency while Vault takes
seconds per answer; a provider whose key is not cached is refused 503
``secret_backend_unavailable`` within the secret deadline, forwarding nothing; health
answers in milliseconds throughout; a cached key is served while its refresh is slow and
refused once it is older than ``master_key_ttl``.

The broker: with local signing, issuance needs no Vault (the keyset is loaded) and keeps
its latency; with Transit signing it is refused within the deadline; its probes answer
in milliseconds and readiness reports the slow dependency.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from broker.api.app import create_app
from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.kv import VaultSecretStore
from broker.store.database import Database
from broker.store.engine import make_engine
from broker.store.group_commit import GroupCommit
from tests.support.delay_proxy import DelayProxy
from tests.support.fault_stack import FaultStack, fault_stack
from tests.support.openbao import OpenBaoServer
from tests.support.servers import HOST
from tests.support.stack import ECHO, PERMISSIVE
from tests.support.vault_world import REQUEST, make_world

pytestmark = pytest.mark.faults
pytest_plugins = ["tests.support.openbao"]

DEADLINE = 1.0  # secret_deadline in these tests
SLOW = 4.0  # seconds Vault takes per answer once slowed
# Bounds: a call that needs no Vault, and a probe, on a shared 2-core machine.
UNAFFECTED_S = 1.0
# The first call after a Vault read starts hanging has been seen stalled up to 1.25 s on a
# loaded CI machine (an open finding, docs/operations.md); the rest take milliseconds. Each
# call stays below the deadline plus this margin, and the median says they are unaffected.
STALL_S = 2.0
UNAFFECTED_MEDIAN_S = 0.5
# Probes answer from the background checks' last outcomes, in milliseconds: the median says
# so (a probe that waited on Vault would put it at the deadline or more). One probe right
# after a Transit refusal has been seen stalled 0.66-1.05 s on a loaded 2-core CI machine
# (an open finding, docs/operations.md); each probe stays below the chart's probe timeout.
PROBE_S = 2.0  # the chart's readiness probe times out at 3 s
PROBE_MEDIAN_S = 0.1
REFUSED_WITHIN_S = DEADLINE + 1.5


@pytest.fixture
def proxy(openbao_server: OpenBaoServer) -> Iterator[DelayProxy]:
    with DelayProxy(HOST, openbao_server.port) as proxy:
        yield proxy


@contextmanager
def slow_stack(
    tmp_path: Path, server: OpenBaoServer, mount: str, proxy: DelayProxy, *, ttl: float
) -> Iterator[FaultStack]:
    direct = VaultSecretStore(VaultConfig(addr=server.addr, token=server.root_token, mount=mount))
    keys = {ECHO: "echo-key-" + "e" * 24, PERMISSIVE: "permissive-key-" + "p" * 24}
    for provider, key in keys.items():
        direct.put(f"providers/{provider}/master-key", key.encode())
    direct.close()
    # No KV cache in the store: every read goes to Vault (the gateway's own cache is tested).
    store = VaultSecretStore(
        VaultConfig(addr=proxy.url, token=server.root_token, mount=mount, cache_ttl=0)
    )
    overrides = {"secret_deadline": DEADLINE, "master_key_ttl": ttl}
    try:
        with fault_stack(
            tmp_path,
            f"sqlite:///{tmp_path}/capbroker.db",
            secrets=store,
            overrides=overrides,
            keys=keys,
        ) as stack:
            yield stack
    finally:
        store.close()


def test_slow_vault_fails_only_the_calls_that_need_an_uncached_key(
    tmp_path: Path, openbao_server: OpenBaoServer, kv_mount: str, proxy: DelayProxy
) -> None:
    with slow_stack(tmp_path, openbao_server, kv_mount, proxy, ttl=60.0) as stack:
        echo, permissive = stack.token(ECHO), stack.token(PERMISSIVE)
        warm, _ = stack.call(ECHO, echo, stack.name("warm"))
        assert warm.status_code == 200, warm.text
        baseline = [stack.call(ECHO, echo, stack.name("base"))[1] for _ in range(5)]

        proxy.delay = SLOW
        refused: list[tuple[int, str, float]] = []
        uncached = stack.name("uncached")

        def needs_vault() -> None:
            answer, took = stack.call(PERMISSIVE, permissive, uncached)
            refused.append((answer.status_code, answer.json().get("code", ""), took))

        waiting = threading.Thread(target=needs_vault)
        waiting.start()
        during = []
        while waiting.is_alive():
            answer, took = stack.call(ECHO, echo, stack.name("during"))
            assert answer.status_code == 200, answer.text
            during.append(took)
            for path in ("/healthz", "/readyz"):
                status, probe = stack.health(path)
                assert status == 200, path
                assert probe < PROBE_S, (path, probe)
        waiting.join()

        # Availability: the refusal came within the deadline; the cached provider kept
        # its latency while Vault was slow.
        [(status, code, took)] = refused
        assert (status, code) == (503, "secret_backend_unavailable")
        assert took < REFUSED_WITHIN_S, took
        assert during
        assert max(during) < STALL_S, (during, baseline)
        assert statistics.median(during) < UNAFFECTED_MEDIAN_S, (during, baseline)
        print(
            f"\nvault slowed to {SLOW}s: uncached key refused in {took:.3f}s;"
            f" cached provider median {statistics.median(during) * 1000:.1f} ms"
            f" (baseline {statistics.median(baseline) * 1000:.1f} ms) over {len(during)} calls"
        )
        # Safety: nothing reached the provider whose key could not be read; every call the
        # other provider saw has its allow decision.
        assert stack.reached(PERMISSIVE) == set()
        assert stack.outcomes_of(uncached) == [("deny", "secret_backend_unavailable")]
        for name in stack.reached(ECHO):
            assert ("allow", "") in stack.outcomes_of(name), name


def test_a_cached_key_is_served_while_its_refresh_is_slow_then_refused(
    tmp_path: Path, openbao_server: OpenBaoServer, kv_mount: str, proxy: DelayProxy
) -> None:
    ttl = 2.5  # refreshed after half of it
    with slow_stack(tmp_path, openbao_server, kv_mount, proxy, ttl=ttl) as stack:
        echo = stack.token(ECHO)
        loaded = time.monotonic()
        assert stack.call(ECHO, echo, stack.name("warm"))[0].status_code == 200
        proxy.delay = SLOW
        time.sleep(ttl / 2 + 0.1)  # due for a refresh, which is now slow
        served = []
        while time.monotonic() - loaded < ttl - 0.3:
            answer, took = stack.call(ECHO, echo, stack.name("stale"))
            assert answer.status_code == 200, answer.text
            served.append(took)
        assert served
        assert max(served) < STALL_S, served  # a short run: a few calls, no median
        time.sleep(max(0.0, loaded + ttl + 0.1 - time.monotonic()))
        late = stack.name("late")
        answer, took = stack.call(ECHO, echo, late)
        # Past the ttl the key is not used; the read waits at most the deadline.
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "secret_backend_unavailable"
        assert took < REFUSED_WITHIN_S, took
        assert late not in stack.reached(ECHO)


@pytest.mark.parametrize("signer", ["local", "transit"])
def test_broker_issuance_and_probes_with_a_slow_vault(
    signer: str, tmp_path: Path, openbao_server: OpenBaoServer, proxy: DelayProxy
) -> None:
    world = make_world(
        openbao_server,
        tmp_path,
        signer=signer,
        extra_env={"VAULT_ADDR": proxy.url, "CAPBROKER_SECRET_DEADLINE": str(DEADLINE)},
    )
    body = {"template": REQUEST.template, "environment": REQUEST.environment}
    auth = {"Authorization": f"Bearer {world.agent}"}
    with TestClient(create_app(world.services)) as client:
        assert client.post("/v1/tokens", json=body, headers=auth).status_code == 201
        assert client.get("/readyz").status_code == 200
        tokens = world.tokens()
        proxy.delay = SLOW
        started = time.perf_counter()
        answer = client.post("/v1/tokens", json=body, headers=auth)
        took = time.perf_counter() - started
        probes = []
        for _ in range(10):
            for path in ("/healthz", "/readyz"):
                t0 = time.perf_counter()
                client.get(path)
                probes.append(time.perf_counter() - t0)
            time.sleep(0.3)
        ready = client.get("/readyz")
        proxy.delay = 0.0
    assert max(probes) < PROBE_S, probes
    assert statistics.median(probes) < PROBE_MEDIAN_S, probes
    if signer == "local":  # the keyset is loaded: no Vault call is needed to issue
        assert answer.status_code == 201, answer.text
        assert took < UNAFFECTED_S, took
        assert world.tokens() == tokens + 1
    else:  # Transit signs every token: refused within the deadline, no row written
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "secret_backend_unavailable"
        assert took < REFUSED_WITHIN_S, took
        assert world.tokens() == tokens
    # Readiness tells the slow dependency apart, from the background checks.
    assert ready.status_code == 503
    assert ready.json()["checks"]["secret_backend"] == "unavailable (timeout)"


def test_a_slow_transit_sign_holds_no_write_lock(
    tmp_path: Path, openbao_server: OpenBaoServer, proxy: DelayProxy
) -> None:
    """Issuance waits for a slow Transit, but another writer on the same SQLite file (as
    the gateway's decisions are) never waits for it: the token is signed before its
    group-commit unit takes the write lock."""
    world = make_world(
        openbao_server, tmp_path, signer="transit", extra_env={"VAULT_ADDR": proxy.url}
    )
    body = {"template": REQUEST.template, "environment": REQUEST.environment}
    auth = {"Authorization": f"Bearer {world.agent}"}
    other = Database(make_engine(world.services.settings.effective_database_url))
    writes: list[float] = []

    async def other_writer(until: float) -> None:
        committer = GroupCommit(other)
        while time.monotonic() < until:
            started = time.perf_counter()
            await committer.run(lambda tx: tx.conn.execute(text("SELECT 1")))
            writes.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
        committer.close()

    with TestClient(create_app(world.services)) as client:
        assert client.post("/v1/tokens", json=body, headers=auth).status_code == 201
        proxy.delay = 0.8  # each Transit answer late, within the deadline
        answers: list[int] = []
        issuers = [
            threading.Thread(
                target=lambda: answers.append(
                    client.post("/v1/tokens", json=body, headers=auth).status_code
                )
            )
            for _ in range(3)
        ]
        for t in issuers:
            t.start()
        asyncio.run(other_writer(time.monotonic() + 2.0))
        for t in issuers:
            t.join(timeout=10)
    other.engine.dispose()
    assert answers == [201, 201, 201]
    assert writes
    print(f"\nslow transit: other writer's max wait {max(writes) * 1000:.1f} ms over {len(writes)}")
    assert max(writes) < 0.5, writes  # a sign call takes 0.8 s: never waited for
