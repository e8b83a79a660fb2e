"""Vault stopped (the process killed) or sealed, under a running gateway and broker.

The gateway keeps forwarding for the provider whose key it cached and refuses the other
at once (503 ``secret_backend_unavailable``, nothing forwarded); the broker with local
signing keeps issuing (its keyset is loaded), with Transit it refuses at once and writes
no row; every probe answers in milliseconds and readiness follows within a check round.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from broker.api.app import create_app
from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.kv import VaultSecretStore
from tests.support.fault_stack import fault_stack
from tests.support.openbao import OpenBaoServer
from tests.support.stack import ECHO, PERMISSIVE
from tests.support.vault_world import REQUEST, make_world

pytestmark = pytest.mark.faults
pytest_plugins = ["tests.support.openbao"]

FAULTS = ["stopped", "sealed"]
UNAFFECTED_S = 1.0
# As in test_vault_slow.py: the median says probes answer in milliseconds; each stays below
# the chart's probe timeout (one probe right after a Transit refusal has stalled ~1 s on CI).
PROBE_S = 2.0
PROBE_MEDIAN_S = 0.1
REFUSED_WITHIN_S = 2.0
READY_FOLLOWS_S = 5.0  # a background round every 2 s, each within the deadline


def _break(server: OpenBaoServer, fault: str) -> None:
    if fault == "stopped":
        server.kill()
    else:
        server.seal()


@pytest.mark.parametrize("fault", FAULTS)
def test_gateway_with_vault_down(
    fault: str, tmp_path: Path, own_openbao_server: OpenBaoServer
) -> None:
    server = own_openbao_server
    mount = server.new_kv_mount("kv-down")
    keys = {ECHO: "echo-key-" + "e" * 24, PERMISSIVE: "permissive-key-" + "p" * 24}
    store = VaultSecretStore(
        VaultConfig(addr=server.addr, token=server.root_token, mount=mount, cache_ttl=0)
    )
    for provider, key in keys.items():
        store.put(f"providers/{provider}/master-key", key.encode())
    url = f"sqlite:///{tmp_path}/capbroker.db"
    with fault_stack(tmp_path, url, secrets=store, keys=keys) as stack:
        echo, permissive = stack.token(ECHO), stack.token(PERMISSIVE)
        assert stack.call(ECHO, echo, stack.name("warm"))[0].status_code == 200
        _break(server, fault)
        latencies = []
        for _ in range(10):
            answer, took = stack.call(ECHO, echo, stack.name("cached"))
            assert answer.status_code == 200, answer.text
            latencies.append(took)
        uncached = stack.name("uncached")
        answer, took = stack.call(PERMISSIVE, permissive, uncached)
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "secret_backend_unavailable"
        assert took < REFUSED_WITHIN_S, took
        assert max(latencies) < UNAFFECTED_S, latencies
        for path in ("/healthz", "/readyz"):
            status, probe = stack.health(path)
            assert status == 200, path  # the gateway is ready: it serves cached keys
            assert probe < PROBE_S, (path, probe)
        assert stack.reached(PERMISSIVE) == set()
        assert stack.outcomes_of(uncached) == [("deny", "secret_backend_unavailable")]
        for name in stack.reached(ECHO):
            assert ("allow", "") in stack.outcomes_of(name), name
    store.close()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("signer", ["local", "transit"])
def test_broker_with_vault_down(
    signer: str, fault: str, tmp_path: Path, own_openbao_server: OpenBaoServer
) -> None:
    world = make_world(own_openbao_server, tmp_path, signer=signer)
    body = {"template": REQUEST.template, "environment": REQUEST.environment}
    auth = {"Authorization": f"Bearer {world.agent}"}
    with TestClient(create_app(world.services)) as client:
        assert client.post("/v1/tokens", json=body, headers=auth).status_code == 201
        tokens = world.tokens()
        _break(own_openbao_server, fault)
        started = time.perf_counter()
        answer = client.post("/v1/tokens", json=body, headers=auth)
        took = time.perf_counter() - started
        deadline, probes = time.monotonic() + READY_FOLLOWS_S, []
        while True:
            t0 = time.perf_counter()
            ready = client.get("/readyz")
            probes.append(time.perf_counter() - t0)
            if ready.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for path in ("/healthz", "/readyz") * 3:  # enough probes for the median
            t0 = time.perf_counter()
            client.get(path)
            probes.append(time.perf_counter() - t0)
        assert client.get("/healthz").status_code == 200
    assert max(probes) < PROBE_S, probes
    assert statistics.median(probes) < PROBE_MEDIAN_S, probes
    assert ready.status_code == 503, ready.text
    assert ready.json()["checks"]["secret_backend"].startswith("unavailable (")
    if signer == "local":
        assert answer.status_code == 201, answer.text
        assert took < UNAFFECTED_S, took
        assert world.tokens() == tokens + 1
    else:
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "secret_backend_unavailable"
        assert took < REFUSED_WITHIN_S, took
        assert world.tokens() == tokens
