"""Rotation across an algorithm change: a broker that signed Ed25519 is reconfigured for
ES256 (then RS256); tokens of the old key verify from the published JWKS until they expire."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.clock import FrozenClock
from broker.services.container import Services, build_services
from broker.settings import Settings
from broker.tokens import InvalidToken, TokenVerifier, keys_from_jwks, mint
from tests.tokens.token_builders import AUDIENCE, ISSUER, NOW, valid_claims

DELAY = 300
TTL = 600


def _services(tmp_path: Path, clock: FrozenClock, algorithm: str) -> Services:
    settings = Settings(
        data_dir=tmp_path / "data",
        issuer=ISSUER,
        audience=AUDIENCE,
        signing_algorithm=algorithm,
        key_propagation_delay=DELAY,
        max_token_ttl=TTL,
    )
    return build_services(settings, clock=clock)


def _gateway(services: Services) -> TokenVerifier:
    """What a gateway builds: the JWKS as served, read back, and the configured list."""
    keys = keys_from_jwks(services.keys.jwks())
    return TokenVerifier(
        keys.get,
        issuer=ISSUER,
        audience=AUDIENCE,
        max_lifetime=TTL,
        algorithms=services.settings.accepted_algorithms,
    )


def _token(services: Services, now: float) -> str:
    claims = valid_claims(iat=int(now), nbf=int(now), exp=int(now) + TTL)
    return mint(claims, services.keys.signer())


def test_ed25519_to_es256_to_rs256(tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    first = _services(tmp_path, clock, "Ed25519")
    assert first.keys.ensure_key(actor="test")
    old_token = _token(first, clock())
    first.close()

    second = _services(tmp_path, clock, "ES256")
    try:
        new = second.keys.rotate(actor="test")
        assert new.algorithm == "ES256"
        # Published at once, signing only after the propagation delay.
        assert [k["alg"] for k in second.keys.jwks()["keys"]] == ["EdDSA", "ES256"]  # type: ignore[index]
        assert second.keys.signer().algorithm == "Ed25519"
        clock.advance(DELAY)
        assert second.keys.signer().kid == new.kid
        es_token = _token(second, clock())
        gateway = _gateway(second)
        assert gateway.verify(es_token, now=clock()).kid == new.kid
        # The Ed25519 token still verifies, at the gateway and at the broker.
        assert gateway.verify(old_token, now=clock()).jti == "jti-1"
        assert second.verifier.verify(old_token, now=clock()).jti == "jti-1"

        third_key = second.keys.rotate(actor="test")  # same broker, still ES256
        assert third_key.algorithm == "ES256"
    finally:
        second.close()

    third = _services(tmp_path, clock, "RS256")
    try:
        rsa = third.keys.rotate(actor="test")
        clock.advance(DELAY)
        assert third.keys.signer().kid == rsa.kid
        rs_token = _token(third, clock())
        gateway = _gateway(third)
        for token in (rs_token, es_token):
            gateway.verify(token, now=clock())
        # Once every token the Ed25519 key signed has expired, it leaves the JWKS.
        clock.advance(TTL + 60)
        algs = {k["alg"] for k in third.keys.jwks()["keys"]}  # type: ignore[index]
        assert "EdDSA" not in algs
        assert "RS256" in algs
        with pytest.raises(InvalidToken):
            _gateway(third).verify(old_token, now=clock())
    finally:
        third.close()


def test_a_gateway_pinned_to_the_new_algorithm_refuses_the_old_tokens(tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    broker = _services(tmp_path, clock, "Ed25519")
    try:
        broker.keys.ensure_key(actor="test")
        old_token = _token(broker, clock())
        keys = keys_from_jwks(broker.keys.jwks())
        pinned = TokenVerifier(keys.get, issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"])
        with pytest.raises(InvalidToken) as caught:
            pinned.verify(old_token, now=clock())
        assert caught.value.audit_detail == "alg Ed25519 refused"
    finally:
        broker.close()


def test_settings_refuse_a_list_without_the_signing_algorithm() -> None:
    from broker.errors import InvalidRequest
    from broker.settings import load_settings

    with pytest.raises(InvalidRequest, match="token_algorithms must include"):
        load_settings(
            environ={"CAPBROKER_SIGNING_ALGORITHM": "RS256", "CAPBROKER_TOKEN_ALGORITHMS": "ES256"}
        )
    with pytest.raises(InvalidRequest, match="HS256 not one of"):
        load_settings(environ={"CAPBROKER_TOKEN_ALGORITHMS": "Ed25519,HS256"})
    with pytest.raises(InvalidRequest, match="signing_algorithm"):
        load_settings(environ={"CAPBROKER_SIGNING_ALGORITHM": "EdDSA"})
