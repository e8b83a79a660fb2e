"""One signing path: ``mint`` signs through ``Signer``; a key may sign locally or remotely."""

from __future__ import annotations

import pytest

from broker.tokens import InvalidKey, Keyset, SigningKey, generate_signing_key, mint, verify_only
from tests.tokens.token_builders import NOW, valid_claims, verifier_for

CLAIMS = {"iss": "http://broker.test", "sub": "a", "aud": "capbroker-gateway"}


def _remote_twin(key: SigningKey, calls: list[bytes]) -> SigningKey:
    """The same key pair, but signing through a callable (as a Transit key version does)."""
    assert key.private is not None
    private = key.private

    def remote(data: bytes) -> bytes:
        calls.append(data)
        return private.sign(data)

    return SigningKey(key.kid, None, key.public, key.created_at, key.activates_at, remote)


def test_a_remote_key_mints_the_same_bytes_as_the_local_key() -> None:
    key = generate_signing_key(now=NOW - 60, activates_at=NOW - 60)
    calls: list[bytes] = []
    twin = _remote_twin(key, calls)
    assert twin.can_sign
    local, remote = mint(CLAIMS, key), mint(CLAIMS, twin)
    assert local == remote  # Ed25519 is deterministic
    assert calls == [local.rsplit(".", 1)[0].encode()]
    verified = verifier_for(key).verify(mint(valid_claims(), twin), now=NOW)
    assert verified.claims == valid_claims()


def test_a_verify_only_key_cannot_sign() -> None:
    key = verify_only(generate_signing_key(now=NOW, activates_at=NOW))
    assert not key.can_sign
    with pytest.raises(InvalidKey, match="verify-only"):
        mint(CLAIMS, key)


def test_verify_only_drops_the_remote_signer_too() -> None:
    key = _remote_twin(generate_signing_key(now=NOW, activates_at=NOW), [])
    assert not verify_only(key).can_sign


def test_the_schedule_treats_remote_keys_like_local_ones() -> None:
    old = generate_signing_key(now=0, activates_at=0)
    new = _remote_twin(generate_signing_key(now=100, activates_at=400), [])
    keys = Keyset([old, new])
    assert keys.signer(399).kid == old.kid
    assert keys.signer(400).kid == new.kid
    # The remote key retires the local one: published until tokens it signed expire.
    published = [k.kid for k in keys.published(500, max_token_lifetime=200)]
    assert published == [new.kid, old.kid]
    assert [k.kid for k in keys.published(700, max_token_lifetime=200)] == [new.kid]
