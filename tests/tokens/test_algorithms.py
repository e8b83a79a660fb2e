"""Ed25519, ES256 and RS256: minting, verification, JWKs, and the header never choosing
how a key is used (tested as an attacker would forge, with the public material in hand)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.tokens import (
    ALGORITHMS,
    ED25519,
    ES256,
    RS256,
    InvalidKey,
    InvalidToken,
    SigningKey,
    TokenVerifier,
    generate_signing_key,
    keys_from_jwks,
    load_signing_key,
    mint,
    private_key_bytes,
    public_jwk,
    public_key_from_jwk,
    thumbprint,
)
from broker.tokens._b64 import b64url_decode, b64url_encode
from tests.tokens.token_builders import AUDIENCE, ISSUER, NOW, forge, valid_claims

KEYS = {a: generate_signing_key(now=0, activates_at=0, algorithm=a) for a in ALGORITHMS}
HEADER_NAMES = {ED25519: "EdDSA", ES256: "ES256", RS256: "RS256"}


def verifier_of(*keys: SigningKey, algorithms: tuple[str, ...] = ALGORITHMS) -> TokenVerifier:
    found = {k.kid: k.public for k in keys}
    return TokenVerifier(found.get, issuer=ISSUER, audience=AUDIENCE, algorithms=algorithms)


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token, now=NOW)
    return caught.value.audit_detail


def header(key: SigningKey, alg: str) -> dict[str, Any]:
    return {"alg": alg, "typ": "at+jwt", "kid": key.kid}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm_mints_and_verifies(algorithm: str) -> None:
    key = KEYS[algorithm]
    assert key.algorithm == algorithm
    token = mint(valid_claims(), key)
    head = json.loads(b64url_decode(token.split(".")[0]))
    assert head == {"alg": HEADER_NAMES[algorithm], "typ": "at+jwt", "kid": key.kid}
    assert dict(verifier_of(key).verify(token, now=NOW).claims) == valid_claims()
    # The JWKS round trip gives the same key back, under the same thumbprint.
    jwk = public_jwk(key)
    assert jwk["alg"] == HEADER_NAMES[algorithm]
    assert jwk["use"] == "sig"
    assert thumbprint(public_key_from_jwk(jwk)) == key.kid
    assert set(keys_from_jwks({"keys": [jwk]})) == {key.kid}


def test_es256_signature_is_the_raw_64_byte_form() -> None:
    token = mint(valid_claims(), KEYS[ES256])
    assert len(b64url_decode(token.split(".")[2])) == 64
    assert len(b64url_decode(mint(valid_claims(), KEYS[RS256]).split(".")[2])) == 256


def test_rfc7638_thumbprint_of_the_rfc_rsa_key() -> None:
    # RFC 7638 section 3.1: the example RSA key and its thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65Y"
        "GjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdk"
        "t-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqD"
        "Kgw"
    )
    public = public_key_from_jwk({"kty": "RSA", "n": n, "e": "AQAB"}, kid_is_thumbprint=False)
    assert thumbprint(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("algorithm", [ES256, RS256])
def test_private_halves_round_trip_as_pkcs8(algorithm: str) -> None:
    key = KEYS[algorithm]
    stored = private_key_bytes(key)
    assert stored[:1] == b"\x30"  # DER SEQUENCE
    again = load_signing_key(key.kid, stored, 0, 0)
    assert again == key
    assert again.algorithm == algorithm
    with pytest.raises(InvalidKey):
        load_signing_key(KEYS[ED25519].kid, stored, 0, 0)
    with pytest.raises(InvalidKey):
        load_signing_key(key.kid, stored[:-3], 0, 0)


def test_both_names_of_ed25519_are_read() -> None:
    key = KEYS[ED25519]
    assert key.private is not None
    token = forge(header(key, "Ed25519"), valid_claims(), key.private.sign)
    assert verifier_of(key).verify(token, now=NOW).kid == key.kid


# --- algorithm confusion ------------------------------------------------------------------


def _pem(key: SigningKey) -> bytes:
    return key.public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("hs", ["HS256", "HS384", "HS512"])
def test_public_key_as_hmac_secret(algorithm: str, hs: str) -> None:
    key = KEYS[algorithm]
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[hs]
    jwk = public_jwk(key)
    secrets = [_pem(key), json.dumps(jwk).encode(), *(v.encode() for v in jwk.values())]
    verifier = verifier_of(key)
    for secret in secrets:
        token = forge(
            header(key, hs),
            valid_claims(),
            lambda data, s=secret: hmac.new(s, data, digest).digest(),  # type: ignore[misc]
        )
        assert refused(verifier, token) == f"alg {hs} refused"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_unsigned(algorithm: str, alg: str) -> None:
    key = KEYS[algorithm]
    for signature in (b"", b"\0" * 64):
        token = forge(header(key, alg), valid_claims(), lambda _, s=signature: s)  # type: ignore[misc]
        assert "refused" in refused(verifier_of(key), token)


def _attacker_signature(alg: str, data: bytes) -> bytes:
    """A signature an attacker can make for ``alg`` with a key of their own."""
    return generate_signing_key(
        now=0, activates_at=0, algorithm={"EdDSA": ED25519, "Ed25519": ED25519}.get(alg, alg)
    ).sign(data)


MISMATCHES = [
    (victim, alg)
    for victim in ALGORITHMS
    for alg in ("EdDSA", "Ed25519", "ES256", "RS256")
    if alg not in (HEADER_NAMES[victim], victim)
]


@pytest.mark.parametrize(("victim", "alg"), MISMATCHES)
def test_header_naming_another_algorithm_than_the_kids_key(victim: str, alg: str) -> None:
    key = KEYS[victim]
    token = forge(header(key, alg), valid_claims(), lambda d: _attacker_signature(alg, d))
    assert refused(verifier_of(key), token) == "alg does not match the key's type"


def test_the_kids_own_key_cannot_sign_under_another_name() -> None:
    """PS256 (same RSA key, other padding) and ES384/ES256K are not accepted names at all."""
    key = KEYS[RS256]
    private = key.private
    assert isinstance(private, rsa.RSAPrivateKey)

    def pss(data: bytes) -> bytes:
        return private.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())

    for alg in ("PS256", "RS384", "RS512"):
        token = forge(header(key, alg), valid_claims(), pss)
        assert refused(verifier_of(key), token) == f"alg {alg} refused"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_verifier_accepts_exactly_its_configured_algorithms(algorithm: str) -> None:
    key = KEYS[algorithm]
    token = mint(valid_claims(), key)
    others = tuple(a for a in ALGORITHMS if a != algorithm)
    assert refused(verifier_of(key, algorithms=others), token) == f"alg {algorithm} refused"
    assert verifier_of(key, algorithms=(algorithm,)).verify(token, now=NOW).kid == key.kid


def test_es256_der_signature_and_wrong_lengths_refused() -> None:
    key = KEYS[ES256]
    private = key.private
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = forge(
        header(key, "ES256"),
        valid_claims(),
        lambda d: private.sign(d, ec.ECDSA(hashes.SHA256())),
    )
    assert refused(verifier_of(key), der) == "signature does not verify"
    token = mint(valid_claims(), key)
    head, payload, sig = token.split(".")
    raw = b64url_decode(sig)
    for bad in (raw[:-1], raw + b"\0", b"\0" * 64, raw[32:] + raw[:32]):
        assert refused(verifier_of(key), f"{head}.{payload}.{b64url_encode(bad)}") == (
            "signature does not verify"
        )


def test_rs256_signature_of_another_length_refused() -> None:
    key = KEYS[RS256]
    head, payload, sig = mint(valid_claims(), key).split(".")
    raw = b64url_decode(sig)
    for bad in (raw[1:], b"\0" + raw, raw[:128]):
        assert refused(verifier_of(key), f"{head}.{payload}.{b64url_encode(bad)}") == (
            "signature does not verify"
        )


# --- strict JWKs ----------------------------------------------------------------------------


def _small_rsa_jwk() -> dict[str, str]:
    public = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    n = public.public_numbers().n
    return {"kty": "RSA", "n": b64url_encode(n.to_bytes(128, "big")), "e": "AQAB"}


def _p384_jwk() -> dict[str, str]:
    public = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-384",
        "x": b64url_encode(public.x.to_bytes(48, "big")),
        "y": b64url_encode(public.y.to_bytes(48, "big")),
    }


def _off_curve(jwk: dict[str, str]) -> dict[str, str]:
    y = bytearray(b64url_decode(jwk["y"]))
    y[-1] ^= 1
    return {**jwk, "y": b64url_encode(bytes(y))}


def _leading_zero(jwk: dict[str, str]) -> dict[str, str]:
    return {**jwk, "n": b64url_encode(b"\0" + b64url_decode(jwk["n"]))}


@pytest.mark.parametrize(
    "bad",
    [
        {**public_jwk(KEYS[RS256]), "alg": "ES256"},
        {**public_jwk(KEYS[RS256]), "alg": "HS256"},
        {**public_jwk(KEYS[RS256]), "alg": "PS256"},
        {**public_jwk(KEYS[ES256]), "alg": "RS256"},
        {**public_jwk(KEYS[ES256]), "alg": "EdDSA"},
        {**public_jwk(KEYS[ED25519]), "alg": "ES256"},
        {**public_jwk(KEYS[ES256]), "alg": ["ES256"]},
        {**public_jwk(KEYS[ES256]), "crv": "P-384"},
        {**public_jwk(KEYS[RS256]), "d": "AQAB"},
        {**public_jwk(KEYS[RS256]), "p": "AQAB"},
        {**public_jwk(KEYS[ES256]), "d": "AQAB"},
        {**public_jwk(KEYS[RS256]), "use": "enc"},
        {**public_jwk(KEYS[RS256]), "kty": "oct", "k": "c2VjcmV0"},
        _off_curve(public_jwk(KEYS[ES256])),
        _leading_zero(public_jwk(KEYS[RS256])),
        {**public_jwk(KEYS[ES256]), "x": b64url_encode(b"\1" * 31)},
        _small_rsa_jwk(),
        _p384_jwk(),
    ],
)
def test_public_key_from_jwk_refuses(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidKey):
        public_key_from_jwk(bad, kid_is_thumbprint=False)


def test_jose_names_for_metadata() -> None:
    from broker.tokens import jose_names

    assert jose_names(ALGORITHMS) == ["EdDSA", "Ed25519", "ES256", "RS256"]
    assert jose_names((RS256,)) == ["RS256"]
    assert jose_names([ED25519]) == ["EdDSA", "Ed25519"]


CLAIM_CHARS = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(ALGORITHMS),
    # Extra claims the verifier keeps as they are: names no claim of ours uses, text
    # without NUL or lone surrogates (those are refused: broker/limits.py).
    st.dictionaries(
        st.text(CLAIM_CHARS, max_size=8).map(lambda s: "x-" + s),
        st.text(CLAIM_CHARS, max_size=16),
        max_size=4,
    ),
    st.integers(min_value=0, max_value=255),
    st.integers(min_value=1, max_value=255),
)
def test_round_trip_and_any_flipped_signature_byte(
    algorithm: str, extra: dict[str, str], position: int, flip: int
) -> None:
    key = KEYS[algorithm]
    claims = {**extra, **valid_claims()}
    token = mint(claims, key)
    assert dict(verifier_of(key).verify(token, now=NOW).claims) == claims
    head, payload, sig = token.split(".")
    raw = bytearray(b64url_decode(sig))
    raw[position % len(raw)] ^= flip
    assert refused(verifier_of(key), f"{head}.{payload}.{b64url_encode(bytes(raw))}") == (
        "signature does not verify"
    )
