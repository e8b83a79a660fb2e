"""A trusted issuer whose JWKS endpoint hangs: the exchange gives up at the fetch timeout
with 503 issuer_unavailable, and the broker's event loop keeps answering meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.identity.conftest import ci_issuer, cluster_issuer, make_identity_broker
from tests.support.oidc_issuer import LocalIssuer

pytestmark = pytest.mark.faults


def test_a_hanging_jwks_endpoint_is_bounded_and_does_not_block_the_loop(tmp_path: Path) -> None:
    cluster, ci = LocalIssuer(), LocalIssuer()
    cluster.delay = 4.5  # longer than the 3 s fetch timeout
    made = make_identity_broker(tmp_path, cluster, ci, [cluster_issuer(cluster), ci_issuer(ci)])
    answer: dict[str, Any] = {}
    try:
        with made.client:

            def exchange() -> None:
                started = time.monotonic()
                answer["response"] = made.exchange(cluster.kubernetes_token(made.clock()))
                answer["elapsed"] = time.monotonic() - started

            worker = threading.Thread(target=exchange)
            worker.start()
            time.sleep(0.5)  # the exchange is now waiting on the issuer
            started = time.monotonic()
            health = made.client.get("/healthz")
            health_elapsed = time.monotonic() - started
            worker.join(timeout=10)
        assert health.status_code == 200
        assert health_elapsed < 1.0, health_elapsed
        response = answer["response"]
        assert response.status_code == 503, response.text
        assert "issuer_unavailable" in response.text
        assert 2.5 < answer["elapsed"] < 5.0, answer["elapsed"]
        assert made.count("SELECT count(*) FROM tokens") == 0
    finally:
        made.services.close()
        cluster.delay = 0.0
        cluster.stop()
        ci.stop()
