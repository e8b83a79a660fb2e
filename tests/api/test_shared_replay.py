"""One-time tokens are one-time across broker replicas: two broker apps on one database
(SQLite file, real PostgreSQL) refuse at one a client assertion or a single-use workload
token presented at the other. The table fails closed when the database cannot be reached."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from broker.api.app import create_app
from broker.clock import FrozenClock
from broker.errors import Unavailable
from broker.services.container import build_services
from broker.store.database import Database
from broker.store.engine import Timeouts, make_engine
from broker.store.replay import DatabaseReplay
from broker.tokens import InvalidToken
from tests.api.api_support import assert_oauth_error
from tests.identity.conftest import ci_issuer, cluster_issuer, make_identity_broker
from tests.support.broker_app import NOW, make_broker
from tests.support.client_keys import JWT_BEARER, assertion_claims, make_key
from tests.support.oidc_issuer import LocalIssuer
from tests.support.world import broker_settings

RS = "billing-api"


def test_a_client_assertion_is_spent_on_every_replica(tmp_path: Path, database_url: str) -> None:
    clock = FrozenClock(NOW)
    first = make_broker(tmp_path, database_url, clock)
    second_services = build_services(
        broker_settings(tmp_path, database_url), clock=clock, writer="replica-2"
    )
    second = TestClient(create_app(second_services))
    key = make_key("EdDSA")
    try:
        with first.client, second:
            r = first.client.post(
                "/v1/admin/resource-servers",
                json={"name": RS, "jwks": key.jwks(), "with_secret": False},
                headers=first.admin_headers(),
            )
            assert r.status_code == 201, r.text
            issuer = first.services.settings.effective_issuer
            assertion = key.sign(assertion_claims(RS, issuer, clock()))
            form = {
                "token": "x",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion,
            }
            assert first.client.post("/oauth/introspect", data=form).status_code == 200
            replayed = second.post("/oauth/introspect", data=form)
            assert_oauth_error(replayed, 401, "invalid_client", "invalid_client")
            # A fresh assertion is good at the second replica.
            fresh = {**form, "client_assertion": key.sign(assertion_claims(RS, issuer, clock()))}
            assert second.post("/oauth/revoke", data=fresh).status_code == 200
    finally:
        first.services.close()
        second_services.close()


def test_racing_replicas_accept_one_assertion_once(tmp_path: Path, database_url: str) -> None:
    clock = FrozenClock(NOW)
    first = make_broker(tmp_path, database_url, clock)
    second_services = build_services(
        broker_settings(tmp_path, database_url), clock=clock, writer="replica-2"
    )
    key = make_key("ES256")
    try:
        first.services.principals.create_resource_server(
            RS,
            actor="test",
            keys={key.kid: key.public_jwk()},
            with_secret=False,
        )
        issuer = first.services.settings.effective_issuer
        assertion = key.sign(assertion_claims(RS, issuer, clock()))
        results: list[Any] = []
        barrier = threading.Barrier(2)

        def use(services: Any) -> None:
            barrier.wait()
            try:
                results.append(
                    services.client_assertions.authenticate(
                        assertion, client_id=None, endpoint=f"{issuer}/oauth/introspect"
                    ).name
                )
            except Exception as exc:  # the loser's refusal is what this test counts
                results.append(type(exc).__name__)

        threads = [
            threading.Thread(target=use, args=(s,)) for s in (first.services, second_services)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results) == sorted([RS, "Unauthenticated"]), results
    finally:
        first.services.close()
        second_services.close()


def test_a_single_use_workload_token_is_spent_on_every_replica(
    tmp_path: Path, database_url: str
) -> None:
    cluster, ci = LocalIssuer(), LocalIssuer()
    docs = [cluster_issuer(cluster), ci_issuer(ci)]
    first = make_identity_broker(tmp_path, cluster, ci, docs, database_url=database_url)
    second = make_identity_broker(
        tmp_path, cluster, ci, docs, database_url=database_url, seed=False
    )
    try:
        with first.client, second.client:
            token = ci.github_token(first.clock())
            assert first.exchange(token).status_code == 200
            again = second.exchange(token)
            assert again.status_code == 400, again.text
            assert again.json()["error"] == "invalid_grant"
            assert second.exchange(ci.github_token(second.clock())).status_code == 200
        assert first.count("SELECT count(*) FROM used_jtis") == 2
    finally:
        first.services.close()
        second.services.close()
        cluster.stop()
        ci.stop()


def test_claims_expire_and_are_pruned(db: Database) -> None:
    replay = DatabaseReplay(db, clock=lambda: NOW, prune_every=0)
    replay.claim("ns", "a", until=NOW + 10, now=NOW)
    with pytest.raises(InvalidToken):
        replay.claim("ns", "a", until=NOW + 10, now=NOW + 5)
    replay.claim("other-ns", "a", until=NOW + 10, now=NOW)  # namespaces are apart
    # Once its entry expired the same jti is accepted again (the token's exp bounds it).
    replay.claim("ns", "a", until=NOW + 30, now=NOW + 10)
    replay.claim("ns", "b", until=NOW + 11, now=NOW)
    with db.read() as conn:  # the claim at +10 pruned other-ns/a (prune_every=0)
        assert conn.execute(text("SELECT count(*) FROM used_jtis")).scalar_one() == 2
    assert replay.prune(NOW + 20) == 1  # ns/b expired; ns/a lives to +30
    with db.read() as conn:
        left = conn.execute(text("SELECT namespace, jti FROM used_jtis")).all()
    assert [tuple(r) for r in left] == [("ns", "a")]
    with pytest.raises(InvalidToken):
        replay.claim("ns", "x" * 201, until=NOW + 10, now=NOW)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_refuses(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://capbroker@127.0.0.1:{_closed_port()}/capbroker"
    engine = make_engine(url, Timeouts(connect=2, statement=2, pool=2))
    replay = DatabaseReplay(Database(engine), clock=lambda: NOW)
    try:
        with pytest.raises(Unavailable) as raised:
            replay.claim("ns", "a", until=NOW + 10, now=NOW)
        assert raised.value.reason.value == "database_unavailable"
    finally:
        engine.dispose()
