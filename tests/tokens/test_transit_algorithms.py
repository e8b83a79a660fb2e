"""ES256 and RS256 on a real OpenBao: Transit ecdsa-p256 and rsa-2048 keys sign, and local
keys of each algorithm keep their private half in KV. Verified by capbroker, by PyJWT from
the JWKS, and by Transit's own verify."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from broker.clock import FrozenClock
from broker.errors import Unavailable
from broker.secrets.base import SecretBackendUnavailable
from broker.services.signing import TransitSigningKeys
from broker.tokens import thumbprint
from broker.tokens._b64 import b64url_decode
from broker.tokens._jwk import public_key_from_jwk
from tests.support.openbao import LeakWatch, OpenBaoServer
from tests.support.vault_world import REQUEST, TRANSIT_KEY, World, make_world
from tests.support.world import AUDIENCE, ISSUER

pytest_plugins = ["tests.support.openbao", "tests.support.vault_world"]

CASES = [("ecdsa-p256", "ES256"), ("rsa-2048", "RS256")]
TRANSIT_OPTIONS: dict[str, dict[str, str]] = {
    "ES256": {"hash_algorithm": "sha2-256", "marshaling_algorithm": "jws"},
    "RS256": {"hash_algorithm": "sha2-256", "signature_algorithm": "pkcs1v15"},
}


def _header(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[0])))


def _watch(watch: LeakWatch, world: World, token: str) -> None:
    head, payload, _ = token.split(".")
    watch.add(world.token, world.agent, f"{head}.{payload}", payload)


def _pyjwt(world: World, token: str, alg: str) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict(world.services.keys.jwks())
    key = next(k for k in jwks.keys if k.key_id == _header(token)["kid"])
    return dict(jwt.decode(token, key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER))


def _transit_world(
    server: OpenBaoServer, tmp_path: Path, key_type: str, alg: str, **kw: Any
) -> World:
    return make_world(
        server,
        tmp_path,
        signer="transit",
        transit_key_type=key_type,
        extra_env={"CAPBROKER_SIGNING_ALGORITHM": alg},
        **kw,
    )


@pytest.mark.parametrize(("key_type", "alg"), CASES)
def test_transit_signs_each_algorithm(
    openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch, key_type: str, alg: str
) -> None:
    world = _transit_world(openbao_server, tmp_path, key_type, alg)
    keys = world.services.keys
    assert isinstance(keys, TransitSigningKeys)
    assert alg in keys.describe()
    issued = world.issue()
    _watch(leak_watch, world, issued.access_token)
    (jwk,) = keys.jwks()["keys"]  # type: ignore[misc]
    assert jwk["alg"] == alg
    assert _header(issued.access_token) == {"alg": alg, "typ": "at+jwt", "kid": jwk["kid"]}
    assert thumbprint(public_key_from_jwk(jwk)) == jwk["kid"]
    assert world.services.verifier.verify(issued.access_token, now=time.time()).jti == issued.jti
    assert _pyjwt(world, issued.access_token, alg)["jti"] == issued.jti
    # Transit's own verify agrees that the signature is Vault's.
    head, payload, sig = issued.access_token.split(".")
    raw = b64url_decode(sig)
    encoded = (
        base64.urlsafe_b64encode(raw).rstrip(b"=") if alg == "ES256" else base64.b64encode(raw)
    )
    answer = openbao_server.root_client().secrets.transit.verify_signed_data(
        TRANSIT_KEY,
        hash_input=base64.b64encode(f"{head}.{payload}".encode()).decode(),
        signature="vault:v1:" + encoded.decode(),
        mount_point=world.transit_mount,
        **TRANSIT_OPTIONS[alg],
    )
    assert answer["data"]["valid"] is True


@pytest.mark.parametrize(("key_type", "alg"), CASES)
def test_transit_rotation_keeps_the_old_version_verifying(
    openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch, key_type: str, alg: str
) -> None:
    clock = FrozenClock(time.time())
    world = _transit_world(openbao_server, tmp_path, key_type, alg, clock=clock)
    keys = world.services.keys
    first = world.issue()
    _watch(leak_watch, world, first.access_token)
    new = keys.rotate(actor="test")
    assert new.algorithm == alg
    clock.advance(world.services.settings.key_propagation_delay + 1)
    keys.keyset(force=True)
    later = world.issue()
    _watch(leak_watch, world, later.access_token)
    assert _header(later.access_token)["kid"] == new.kid
    for token in (first.access_token, later.access_token):
        world.services.verifier.verify(token, now=clock())


def test_a_transit_key_of_another_type_than_configured_is_refused(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    world = _transit_world(openbao_server, tmp_path, "ecdsa-p256", "Ed25519")
    with pytest.raises(SecretBackendUnavailable, match="signs ES256 but signing_algorithm is "):
        world.issue()
    assert world.tokens() == 0
    # Readiness says so too (a 503 with the reason, never a 500).
    with pytest.raises(Unavailable):
        world.services.keys.check()


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_local_keys_of_each_algorithm_keep_their_private_half_in_kv(
    openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch, alg: str
) -> None:
    world = make_world(
        openbao_server, tmp_path, signer="local", extra_env={"CAPBROKER_SIGNING_ALGORITHM": alg}
    )
    issued = world.issue()
    _watch(leak_watch, world, issued.access_token)
    assert _header(issued.access_token)["alg"] == alg
    # A second broker process reads the PKCS#8 private half back from Vault and signs.
    replica = world.replica()
    again = world.issue(replica)
    _watch(leak_watch, world, again.access_token)
    assert _header(again.access_token)["kid"] == _header(issued.access_token)["kid"]
    assert _pyjwt(world, again.access_token, alg)["jti"] == again.jti
    assert not (world.data_dir / "secrets").exists()


def test_transit_algorithm_change_keeps_the_old_key_verifying(
    openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    """Ed25519 -> ES256 with Transit: a new Transit key, the old one listed as retired."""
    import dataclasses

    from broker.secrets.vault.policy import transit_policy
    from broker.services.container import build_services

    clock = FrozenClock(time.time())
    world = make_world(openbao_server, tmp_path, signer="transit", clock=clock)
    old = world.issue()
    _watch(leak_watch, world, old.access_token)
    old_kid = _header(old.access_token)["kid"]
    root = openbao_server.root_client()
    root.secrets.transit.create_key(
        "capbroker-es256", key_type="ecdsa-p256", mount_point=world.transit_mount
    )
    world.set_policy(world.policy() + transit_policy(world.transit_mount, "capbroker-es256"))
    settings = dataclasses.replace(
        world.services.settings,
        transit_key="capbroker-es256",
        transit_retired_keys=TRANSIT_KEY,
        signing_algorithm="ES256",
    )
    clock.advance(5)
    switched = build_services(settings, clock=clock, environ=world.environ, writer="switched")
    try:
        new = switched.issuance.issue(world.agent, REQUEST)
        _watch(leak_watch, world, new.access_token)
        assert _header(new.access_token)["alg"] == "ES256"
        algs = sorted(k["alg"] for k in switched.keys.jwks()["keys"])  # type: ignore[index]
        assert algs == ["ES256", "EdDSA"]
        # The Ed25519 token still verifies with the switched broker's verifier.
        assert switched.verifier.verify(old.access_token, now=clock()).kid == old_kid
        # The retired key never signs again, and leaves once its tokens have expired.
        assert switched.keys.signer().algorithm == "ES256"
        clock.advance(switched.keys.max_token_lifetime + 1)
        kids = [
            k["kid"]
            for k in switched.keys.keyset(force=True).jwks(
                clock(), max_token_lifetime=switched.keys.max_token_lifetime
            )["keys"]
        ]
        assert old_kid not in kids
        assert kids == [_header(new.access_token)["kid"]]
    finally:
        switched.close()
