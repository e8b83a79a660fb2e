"""Workload identity on both stores, and two broker replicas meeting a new agent at once:
both exchanges succeed and the agent principal exists once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.identity.conftest import ci_issuer, cluster_issuer, make_identity_broker
from tests.support.oidc_issuer import LocalIssuer


def test_two_replicas_create_the_agent_once(tmp_path: Path, database_url: str) -> None:
    cluster, ci = LocalIssuer(), LocalIssuer()
    docs = [cluster_issuer(cluster), ci_issuer(ci)]
    first = make_identity_broker(tmp_path, cluster, ci, docs, database_url=database_url)
    second = make_identity_broker(
        tmp_path, cluster, ci, docs, database_url=database_url, seed=False
    )
    answers: list[Any] = []
    try:
        with first.client, second.client:
            token = cluster.kubernetes_token(first.clock())
            barrier = threading.Barrier(2)

            def exchange(broker: Any) -> None:
                barrier.wait()
                answers.append(broker.exchange(token))

            threads = [threading.Thread(target=exchange, args=(b,)) for b in (first, second)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        agents = "SELECT count(*) FROM principals WHERE name = 'k8s.agents.claude-code'"
        assert first.count(agents) == 1
        assert first.count("SELECT count(*) FROM tokens") == 2
        created = "SELECT count(*) FROM audit_events WHERE type = 'agent.created'"
        assert first.count(created) == 1
    finally:
        first.services.close()
        second.services.close()
        cluster.stop()
        ci.stop()
