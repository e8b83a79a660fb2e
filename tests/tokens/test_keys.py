from __future__ import annotations

import pytest

from broker.tokens import (
    InvalidKey,
    generate_signing_key,
    keys_from_jwks,
    load_signing_key,
    private_key_bytes,
    public_jwk,
    public_key_from_jwk,
    thumbprint,
    verify_only,
)
from broker.tokens._b64 import b64url_decode, b64url_encode

# RFC 8037 appendix A.1 (key), A.3 (thumbprint), A.4 (signature over "Example of Ed25519 signing").
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def test_rfc8037_thumbprint_and_signature() -> None:
    key = load_signing_key(RFC8037_KID, b64url_decode(RFC8037_D), 0, 0)
    assert thumbprint(key.public) == RFC8037_KID
    assert public_jwk(key)["x"] == RFC8037_X
    assert key.private is not None
    header, payload, signature = RFC8037_JWS.split(".")
    assert b64url_encode(key.private.sign(f"{header}.{payload}".encode())) == signature


def test_generated_key_kid_is_its_thumbprint() -> None:
    key = generate_signing_key(now=5, activates_at=10)
    assert key.kid == thumbprint(key.public)
    assert (key.created_at, key.activates_at) == (5, 10)
    assert len(key.kid) == 43


def test_repr_shows_no_key_material() -> None:
    key = generate_signing_key(now=0, activates_at=0)
    seed = private_key_bytes(key)
    text = repr(key)
    assert key.kid in text
    assert "private" not in text
    assert b64url_encode(seed) not in text
    assert seed.hex() not in text


def test_private_bytes_round_trip() -> None:
    key = generate_signing_key(now=1, activates_at=2)
    seed = private_key_bytes(key)
    assert len(seed) == 32
    again = load_signing_key(key.kid, seed, 1, 2)
    assert again == key
    assert public_jwk(again) == public_jwk(key)


def test_load_refuses_mismatched_kid_and_bad_length() -> None:
    key = generate_signing_key(now=0, activates_at=0)
    other = generate_signing_key(now=0, activates_at=0)
    with pytest.raises(InvalidKey) as caught:
        load_signing_key(key.kid, private_key_bytes(other), 0, 0)
    assert private_key_bytes(other).hex() not in str(caught.value)
    for size in (0, 31, 33, 64):
        with pytest.raises(InvalidKey):
            load_signing_key(key.kid, b"\x01" * size, 0, 0)


def test_verify_only_key_has_no_private_bytes() -> None:
    key = verify_only(generate_signing_key(now=0, activates_at=0))
    assert key.private is None
    with pytest.raises(InvalidKey):
        private_key_bytes(key)


def test_public_jwk_members() -> None:
    key = generate_signing_key(now=0, activates_at=0)
    jwk = public_jwk(key)
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert jwk["kid"] == key.kid
    assert thumbprint(public_key_from_jwk(jwk)) == key.kid


def _jwk() -> dict[str, str]:
    return public_jwk(generate_signing_key(now=0, activates_at=0))


@pytest.mark.parametrize(
    "change",
    [
        {"kty": "RSA"},
        {"kty": "EC"},
        {"crv": "X25519"},
        {"crv": "Ed448"},
        {"alg": "ES256"},
        {"alg": "none"},
        {"use": "enc"},
        {"d": RFC8037_D},
        {"x": b64url_encode(b"\x01" * 31)},
        {"x": b64url_encode(b"\x01" * 33)},
        {"x": "not base64!"},
        {"x": RFC8037_X + "="},
        {"x": 12},
        {"kid": "someone-elses-kid"},
    ],
)
def test_public_key_from_jwk_is_strict(change: dict[str, object]) -> None:
    with pytest.raises(InvalidKey):
        public_key_from_jwk({**_jwk(), **change})


def test_public_key_from_jwk_requires_x() -> None:
    jwk = _jwk()
    del jwk["x"]
    with pytest.raises(InvalidKey):
        public_key_from_jwk(jwk)


def test_keys_from_jwks() -> None:
    a, b = _jwk(), _jwk()
    keys = keys_from_jwks({"keys": [a, b]})
    assert set(keys) == {a["kid"], b["kid"]}
    bads: list[dict[str, object]] = [
        {},
        {"keys": {}},
        {"keys": [a, a]},
        {"keys": [{**b, "kid": 3}]},
        {"keys": ["x"]},
    ]
    for bad in bads:
        with pytest.raises(InvalidKey):
            keys_from_jwks(bad)


def test_generated_private_keys_differ() -> None:
    kids = {generate_signing_key(now=0, activates_at=0).kid for _ in range(20)}
    assert len(kids) == 20
