"""Workload identity end to end: tokens from a local issuer (real JWKS socket), exchanged at
/oauth/token for capability tokens. Every refusal is invalid_grant and issues nothing."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from tests.identity.conftest import (
    IdentityBroker,
    ci_issuer,
    cluster_issuer,
    make_identity_broker,
)
from tests.support.oidc_issuer import LocalIssuer, new_key


def _accepted(broker: IdentityBroker, token: str) -> dict[str, object]:
    r = broker.exchange(token)
    assert r.status_code == 200, r.text
    body = r.json()
    claims = broker.services.verifier.verify(body["access_token"], now=broker.clock())
    return dict(claims.claims)


def _refused(broker: IdentityBroker, token: str, status: int = 400) -> dict[str, object]:
    before = broker.count("SELECT count(*) FROM tokens")
    r = broker.exchange(token)
    assert r.status_code == status, r.text
    assert broker.count("SELECT count(*) FROM tokens") == before  # nothing was issued
    body = r.json()
    # No refusal says why: the cause goes to the audit log only.
    assert "kid" not in r.text
    assert "aud" not in str(body.get("detail", ""))
    return dict(body)


def _refusal_details(broker: IdentityBroker) -> list[str]:
    from sqlalchemy import text

    with broker.services.db.read() as conn:
        rows = conn.execute(
            text("SELECT data FROM audit_events WHERE type = 'workload_identity.refused'")
        ).all()
    return [str(r.data) for r in rows]


def test_kubernetes_service_account_token(broker: IdentityBroker) -> None:
    token = broker.cluster.kubernetes_token(broker.clock())
    claims = _accepted(broker, token)
    assert claims["client_id"] == "k8s.agents.claude-code"
    # The agent principal was created on first use, by the trusted issuer.
    assert (
        broker.count("SELECT count(*) FROM principals WHERE name = 'k8s.agents.claude-code'") == 1
    )
    assert broker.count("SELECT count(*) FROM credentials") == 0
    # Kubernetes tokens are reused by the pod until the kubelet rotates them.
    assert _accepted(broker, token)["sub"] == claims["sub"]
    assert (
        broker.count("SELECT count(*) FROM principals WHERE name = 'k8s.agents.claude-code'") == 1
    )


def test_kubernetes_token_of_another_namespace_or_account_is_refused(
    broker: IdentityBroker,
) -> None:
    now = broker.clock()
    # The rule pins the namespace inside sub; a "kube-system" account maps to nothing.
    _refused(broker, broker.cluster.kubernetes_token(now, namespace="kube-system"))
    # A sub that disagrees with the structured claims (forged shape) matches no rule.
    odd = broker.cluster.kubernetes_token(now, sub="system:serviceaccount:agents:other")
    _refused(broker, odd)
    assert any("no agent rule" in d for d in _refusal_details(broker))


def test_github_actions_token_maps_repository_and_environment(broker: IdentityBroker) -> None:
    claims = _accepted(broker, broker.ci.github_token(broker.clock()))
    assert claims["client_id"] == "gha.octo-org.deployer.staging"


@pytest.mark.parametrize(
    "changes",
    [
        {"ref": "refs/heads/feature"},
        {"repository": "evil-org/deployer"},
        {"environment": "production"},  # maps to an agent no template names
    ],
)
def test_github_actions_token_outside_the_rule(
    broker: IdentityBroker, changes: dict[str, str]
) -> None:
    r = broker.exchange(broker.ci.github_token(broker.clock(), **changes))
    assert r.status_code in (400, 403, 404), r.text
    assert broker.count("SELECT count(*) FROM tokens") == 0


def test_github_actions_token_is_single_use(broker: IdentityBroker) -> None:
    token = broker.ci.github_token(broker.clock())
    _accepted(broker, token)
    body = _refused(broker, token)
    assert body["error"] == "invalid_grant"
    assert any("jti replayed" in d for d in _refusal_details(broker))
    # A fresh token (a new jti) from the same run is fine.
    _accepted(broker, broker.ci.github_token(broker.clock()))


def test_single_use_issuer_refuses_a_token_without_jti(broker: IdentityBroker) -> None:
    token = broker.ci.github_token(broker.clock(), jti=None)
    _refused(broker, token)


def test_expired_and_not_yet_valid(broker: IdentityBroker) -> None:
    now = broker.clock()
    _refused(broker, broker.ci.github_token(now - 400))  # exp = now - 100, leeway 10
    _refused(broker, broker.ci.github_token(now, nbf=int(now) + 60))
    _refused(broker, broker.ci.github_token(now, exp=int(now) + 7200))  # longer than allowed
    token = broker.cluster.kubernetes_token(now)
    broker.clock.advance(3600 + 31)
    _refused(broker, token)


def test_wrong_audience(broker: IdentityBroker) -> None:
    now = broker.clock()
    _refused(broker, broker.cluster.kubernetes_token(now, aud=["https://kubernetes.default.svc"]))
    _refused(broker, broker.ci.github_token(now, aud="https://github.com/evil-org"))
    # The capbroker audience of one issuer is no audience of the other.
    _refused(broker, broker.ci.github_token(now, aud="capbroker"))


def test_unknown_issuer(broker: IdentityBroker) -> None:
    stranger = LocalIssuer()
    try:
        _refused(broker, stranger.kubernetes_token(broker.clock()))
        # Its own keys, claiming the trusted issuer's iss: the kid is unknown there.
        _refused(broker, stranger.kubernetes_token(broker.clock(), iss=broker.cluster.url))
    finally:
        stranger.stop()
    assert stranger.fetches == 0  # nobody fetched the stranger's keys


def test_disallowed_algorithm_and_confusion(broker: IdentityBroker) -> None:
    now = broker.clock()
    # An ES256 key published by the issuer, but the issuer is trusted for RS256 only.
    ec_key = new_key("ES256")
    broker.cluster.keys.append(ec_key)
    claims = jwt.decode(broker.cluster.kubernetes_token(now), options={"verify_signature": False})
    _refused(broker, broker.cluster.sign(claims, key=ec_key))
    # HS256 keyed with the issuer's public key (PEM and JWK member n).
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    rsa_key = broker.cluster.keys[0]
    pem = rsa_key.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    for secret in (pem, rsa_key.jwk()["n"].encode()):
        forged = _hs256(claims, secret, rsa_key.kid)
        _refused(broker, forged)
    # alg none with the real kid.
    _refused(broker, _unsigned(claims, rsa_key.kid))
    assert all("refused" in d or "does not match" in d for d in _refusal_details(broker))


def _hs256(claims: dict[str, object], secret: bytes, kid: str) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def enc(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = enc(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = enc(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(sig)}"


def _unsigned(claims: dict[str, object], kid: str) -> str:
    import base64
    import json

    def enc(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = enc(json.dumps({"alg": "none", "kid": kid}).encode())
    return f"{head}.{enc(json.dumps(claims).encode())}."


def test_key_rotation_at_the_issuer(broker: IdentityBroker) -> None:
    cluster = broker.cluster
    old = cluster.keys[0]
    _accepted(broker, cluster.kubernetes_token(broker.clock()))
    fetches = cluster.fetches
    # The issuer adds a key and signs with it: the unknown kid reads the JWKS again.
    new = new_key()
    cluster.keys.insert(0, new)
    broker.clock.advance(11)  # unknown kids re-read the JWKS at most every 10 s
    _accepted(broker, cluster.kubernetes_token(broker.clock()))
    assert cluster.fetches == fetches + 1
    # Made-up kids cannot turn into a fetch each.
    for n in range(5):
        claims = jwt.decode(
            cluster.kubernetes_token(broker.clock()), options={"verify_signature": False}
        )
        fake = new_key()
        fake.kid = f"made-up-{n}"
        _refused(broker, cluster.sign(claims, key=fake))
    assert cluster.fetches == fetches + 1
    # The issuer drops the old key: once the cache is due, tokens it signed are refused.
    old_token = cluster.sign(
        jwt.decode(cluster.kubernetes_token(broker.clock()), options={"verify_signature": False}),
        key=old,
    )
    cluster.keys.remove(old)
    _accepted(broker, old_token)  # still cached
    broker.clock.advance(301)
    _refused(broker, old_token)
    assert cluster.fetches == fetches + 2


def test_issuer_unreachable_fails_closed(tmp_path: Path) -> None:
    cluster, ci = LocalIssuer(), LocalIssuer()
    try:
        made = make_identity_broker(tmp_path, cluster, ci, [cluster_issuer(cluster), ci_issuer(ci)])
        cluster.down = True
        with made.client:
            r = made.exchange(cluster.kubernetes_token(made.clock()))
        assert r.status_code == 503, r.text
        assert "issuer_unavailable" in r.text
        assert made.count("SELECT count(*) FROM tokens") == 0
        made.services.close()
    finally:
        cluster.stop()
        ci.stop()


def test_a_disabled_agent_is_refused(broker: IdentityBroker) -> None:
    token = broker.cluster.kubernetes_token(broker.clock())
    _accepted(broker, token)
    broker.services.principals.set_disabled(
        "agent", "k8s.agents.claude-code", disabled=True, actor="test"
    )
    _refused(broker, token)


def test_without_trusted_issuers_the_jwt_type_is_refused(tmp_path: Path) -> None:
    cluster, ci = LocalIssuer(), LocalIssuer()
    try:
        made = make_identity_broker(tmp_path, cluster, ci, [])
        with made.client:
            r = made.exchange(cluster.kubernetes_token(time.time()))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
        made.services.close()
    finally:
        cluster.stop()
        ci.stop()


def test_the_id_token_type_is_accepted_too(broker: IdentityBroker) -> None:
    token = broker.ci.github_token(broker.clock())
    r = broker.exchange(token, subject_token_type="urn:ietf:params:oauth:token-type:id_token")
    assert r.status_code == 200, r.text
    # A platform JWT presented as an agent credential is just a bad credential.
    r = broker.exchange(
        broker.ci.github_token(broker.clock()),
        subject_token_type="urn:capbroker:params:oauth:token-type:agent-credential",
    )
    assert r.status_code in (400, 401), r.text
    assert broker.count("SELECT count(*) FROM tokens") == 1
