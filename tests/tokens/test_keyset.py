from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.tokens import (
    Keyset,
    NoSigningKey,
    SigningKey,
    TokenVerifier,
    generate_signing_key,
    mint,
    verify_only,
)
from tests.tokens.token_builders import AUDIENCE, ISSUER, valid_claims

HOUR = 3600.0

# Generating Ed25519 keys is cheap, but reuse a pool so hypothesis stays fast.
_POOL = [generate_signing_key(now=0, activates_at=0) for _ in range(8)]


def _key(i: int, activates_at: float, *, private: bool = True) -> SigningKey:
    base = _POOL[i]
    key = SigningKey(base.kid, base.private, base.public, 0.0, activates_at)
    return key if private else verify_only(key)


def test_signer_is_latest_active_private_key() -> None:
    keys = Keyset([_key(0, 0), _key(1, 100), _key(2, 200)])
    assert keys.signer(50).kid == _POOL[0].kid
    assert keys.signer(100).kid == _POOL[1].kid
    assert keys.signer(10_000).kid == _POOL[2].kid


def test_signer_skips_verify_only_keys() -> None:
    keys = Keyset([_key(0, 0), _key(1, 100, private=False)])
    assert keys.signer(500).kid == _POOL[0].kid


def test_no_signer_is_a_clear_error() -> None:
    with pytest.raises(NoSigningKey):
        Keyset([_key(0, 100)]).signer(50)
    with pytest.raises(NoSigningKey):
        Keyset([_key(0, 0, private=False)]).signer(50)
    with pytest.raises(NoSigningKey):
        Keyset([]).signer(0)


def test_duplicate_kid_refused() -> None:
    with pytest.raises(ValueError, match="kid"):
        Keyset([_key(0, 0), _key(0, 10)])


def test_rotation_schedule() -> None:
    old, new, next_ = _key(0, 0), _key(1, 1000), _key(2, 5000)
    keys = Keyset([next_, old, new])

    def kids(now: float) -> list[str]:
        return [k.kid for k in keys.published(now, max_token_lifetime=HOUR)]

    # Before the rotation: signer first, then the keys waiting to sign, newest first.
    assert kids(500) == [old.kid, next_.kid, new.kid]
    # Just rotated: the old key stays, its tokens may still be valid.
    assert kids(1000) == [new.kid, next_.kid, old.kid]
    assert kids(1000 + HOUR - 1) == [new.kid, next_.kid, old.kid]
    # One lifetime after its successor took over, the old key is gone.
    assert kids(1000 + HOUR) == [new.kid, next_.kid]
    assert keys.verification_key(old.kid, 1000 + HOUR, max_token_lifetime=HOUR) is None
    assert keys.verification_key(new.kid, 1000 + HOUR, max_token_lifetime=HOUR) is new.public
    assert keys.verification_key("nope", 0, max_token_lifetime=HOUR) is None


def test_jwks_lists_signer_first() -> None:
    keys = Keyset([_key(0, 0), _key(1, 1000)])
    jwks = keys.jwks(500, max_token_lifetime=HOUR)
    assert [k["kid"] for k in jwks["keys"]] == [_POOL[0].kid, _POOL[1].kid]
    assert all(set(k) == {"kty", "crv", "x", "kid", "alg", "use"} for k in jwks["keys"])


def test_repr_lists_kids_only() -> None:
    text = repr(Keyset([_key(0, 0)]))
    assert _POOL[0].kid in text
    assert "private" not in text


schedules = st.lists(
    st.tuples(st.integers(0, 10_000), st.booleans()), min_size=1, max_size=len(_POOL)
)


@settings(max_examples=300, deadline=None)
@given(schedule=schedules, now=st.integers(-100, 20_000), lifetime=st.integers(1, 5_000))
def test_signer_is_always_published(
    schedule: list[tuple[int, bool]], now: int, lifetime: int
) -> None:
    keys = Keyset([_key(i, float(at), private=p) for i, (at, p) in enumerate(schedule)])
    try:
        signer = keys.signer(now)
    except NoSigningKey:
        assert not any(p and at <= now for at, p in schedule)
        return
    published = keys.published(now, max_token_lifetime=lifetime)
    assert published[0] == signer
    # Every key that will sign later is published already.
    assert {k.kid for k in keys.keys if k.activates_at > now} <= {k.kid for k in published}


@settings(max_examples=150, deadline=None)
@given(
    schedule=schedules,
    signed_at=st.integers(0, 12_000),
    lifetime=st.integers(1, 3_000),
    offsets=st.lists(st.floats(0, 1), min_size=1, max_size=5),
)
def test_token_verifies_throughout_its_lifetime(
    schedule: list[tuple[int, bool]], signed_at: int, lifetime: int, offsets: list[float]
) -> None:
    keys = Keyset([_key(i, float(at), private=p) for i, (at, p) in enumerate(schedule)])
    try:
        signer = keys.signer(signed_at)
    except NoSigningKey:
        return
    claims = valid_claims(iat=signed_at, nbf=signed_at, exp=signed_at + lifetime)
    token = mint(claims, signer)
    times = [signed_at + lifetime * o for o in offsets] + [signed_at, signed_at + lifetime]
    for now in times:

        def resolve(kid: str, now: float = now) -> Ed25519PublicKey | None:
            return keys.verification_key(kid, now, max_token_lifetime=lifetime)

        verifier = TokenVerifier(
            resolve,
            issuer=ISSUER,
            audience=AUDIENCE,
            leeway=0,
            max_lifetime=lifetime,
        )
        if now < signed_at + lifetime:
            assert verifier.verify(token, now=now).jti == claims["jti"]
        else:
            # At exp itself the token is expired, but its key must still be known.
            assert keys.verification_key(signer.kid, now, max_token_lifetime=lifetime)
