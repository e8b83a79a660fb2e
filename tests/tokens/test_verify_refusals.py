"""Every way a token must be refused, and what the caller and the audit log learn."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from broker.errors import Reason, Unauthenticated
from broker.tokens import (
    OPAQUE_DETAIL,
    InvalidToken,
    SigningKey,
    TokenVerifier,
    generate_signing_key,
    mint,
    public_jwk,
)
from broker.tokens._b64 import b64url_decode, b64url_encode
from broker.tokens.claims import REQUIRED_CLAIMS, TIME_CLAIMS
from tests.tokens.token_builders import AUDIENCE, ISSUER, NOW, forge, valid_claims, verifier_for


def refused(verifier: TokenVerifier, token: str, *, now: float = NOW) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token, now=now)
    error = caught.value
    # The caller always sees the same text, whatever went wrong.
    assert isinstance(error, Unauthenticated)
    assert str(error) == error.detail == OPAQUE_DETAIL
    # The audit detail never echoes the token.
    for segment in token.split("."):
        if len(segment) > 8:
            assert segment not in error.audit_detail
    return error


def header(key: SigningKey, **changes: Any) -> dict[str, Any]:
    return {"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid, **changes}


def signer(key: SigningKey) -> Callable[[bytes], bytes]:
    assert key.private is not None
    return key.private.sign


def _swap_segment(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def test_alg_none(key: SigningKey, verifier: TokenVerifier) -> None:
    token = forge(header(key, alg="none"), valid_claims(), lambda _: b"")
    error = refused(verifier, token)
    assert error.reason is Reason.TOKEN_INVALID
    assert error.audit_detail == "alg none refused"


def test_hs256_with_public_key_as_secret(key: SigningKey, verifier: TokenVerifier) -> None:
    secret = b64url_decode(public_jwk(key)["x"])
    for candidate in (secret, public_jwk(key)["x"].encode()):

        def hs256(data: bytes, secret: bytes = candidate) -> bytes:
            return hmac.new(secret, data, hashlib.sha256).digest()

        token = forge(header(key, alg="HS256"), valid_claims(), hs256)
        assert refused(verifier, token).audit_detail == "alg HS256 refused"


def test_rs256_header(key: SigningKey, verifier: TokenVerifier) -> None:
    token = forge(header(key, alg="RS256"), valid_claims(), signer(key))
    assert refused(verifier, token).audit_detail == "alg RS256 refused"


def test_unrecognised_alg_is_not_echoed(key: SigningKey, verifier: TokenVerifier) -> None:
    token = forge(header(key, alg="EdDSA-but-evil"), valid_claims(), signer(key))
    assert refused(verifier, token).audit_detail == "alg unrecognised refused"


def test_missing_alg(key: SigningKey, verifier: TokenVerifier) -> None:
    hdr = header(key)
    del hdr["alg"]
    refused(verifier, forge(hdr, valid_claims(), signer(key)))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/at+jwt", None, 1])
def test_wrong_typ(key: SigningKey, verifier: TokenVerifier, typ: object) -> None:
    token = forge(header(key, typ=typ), valid_claims(), signer(key))
    assert refused(verifier, token).audit_detail == "typ is not at+jwt"


def test_missing_typ(key: SigningKey, verifier: TokenVerifier) -> None:
    hdr = header(key)
    del hdr["typ"]
    assert refused(verifier, forge(hdr, valid_claims(), signer(key))).audit_detail == (
        "typ is not at+jwt"
    )


@pytest.mark.parametrize("kid", [None, "", 7])
def test_missing_or_malformed_kid(key: SigningKey, verifier: TokenVerifier, kid: object) -> None:
    hdr = header(key)
    if kid is None:
        del hdr["kid"]
    else:
        hdr["kid"] = kid
    assert refused(verifier, forge(hdr, valid_claims(), signer(key))).audit_detail == "kid missing"


def test_unknown_kid(key: SigningKey, verifier: TokenVerifier) -> None:
    other = generate_signing_key(now=0, activates_at=0)
    token = mint(valid_claims(), other)
    assert refused(verifier, token).audit_detail == "unknown kid"


def test_crit_header_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    token = forge(header(key, crit=["b64"], b64=False), valid_claims(), signer(key))
    assert refused(verifier, token).audit_detail == "crit header refused"


def test_foreign_signed_with_same_kid(key: SigningKey, verifier: TokenVerifier) -> None:
    other = generate_signing_key(now=0, activates_at=0)
    token = forge(header(key), valid_claims(), signer(other))
    assert refused(verifier, token).audit_detail == "signature does not verify"


def test_tampered_payload(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(), key)
    evil = b64url_encode(json.dumps(valid_claims(sub="root")).encode())
    assert refused(verifier, _swap_segment(token, 1, evil)).audit_detail == (
        "signature does not verify"
    )


def test_tampered_header(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(), key)
    evil = b64url_encode(json.dumps(header(key, extra="x")).encode())
    assert refused(verifier, _swap_segment(token, 0, evil)).audit_detail == (
        "signature does not verify"
    )


def test_truncated_and_padded_signature(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(), key)
    sig = b64url_decode(token.split(".")[2])
    for bad in (sig[:-1], sig + b"\0", b""):
        refused(verifier, _swap_segment(token, 2, b64url_encode(bad)))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_each_required_claim_missing(key: SigningKey, verifier: TokenVerifier, claim: str) -> None:
    claims = valid_claims()
    del claims[claim]
    error = refused(verifier, mint(claims, key))
    assert error.reason is Reason.TOKEN_INVALID
    assert error.audit_detail == f"missing claim {claim}"


WRONG_TYPES: list[tuple[str, object]] = [
    *[
        (c, bad)
        for c in ("iss", "sub", "jti", "sid", "client_id", "template")
        for bad in (1, "", None, ["x"])
    ],
    *[(c, bad) for c in TIME_CLAIMS for bad in ("1700000000", True, None, [1])],
    ("aud", 1),
    ("aud", []),
    ("aud", [AUDIENCE, 1]),
    ("aud", {"aud": AUDIENCE}),
    ("template_version", "3"),
    ("template_version", 3.0),
    ("template_version", True),
    ("template_version", 0),
    ("authorization_details", []),
    ("authorization_details", {"type": "capbroker"}),
    ("authorization_details", ["capbroker"]),
    ("authorization_details", [{"provider": "railway"}]),
    ("authorization_details", [{"type": 1}]),
    ("cnf", "thumb"),
    ("cnf", {"jkt": 1}),
]


@pytest.mark.parametrize(("claim", "value"), WRONG_TYPES)
def test_each_claim_of_wrong_type(
    key: SigningKey, verifier: TokenVerifier, claim: str, value: object
) -> None:
    # forge, not mint: pyjwt itself refuses to encode some of these.
    error = refused(verifier, forge(header(key), valid_claims(**{claim: value}), signer(key)))
    assert error.reason is Reason.TOKEN_INVALID
    assert claim in error.audit_detail


def test_non_finite_times_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        mint(valid_claims(exp=float("nan")), key)  # our minter will not write them
    assert key.private is not None
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}
    for value in (float("nan"), float("inf")):
        # Another issuer might; strict JSON parsing refuses NaN/Infinity.
        refused(verifier, forge(header, valid_claims(exp=value), key.private.sign))


def test_expired(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(iat=NOW - 700, nbf=NOW - 700, exp=NOW - 31), key)
    error = refused(verifier, token)
    assert error.reason is Reason.TOKEN_EXPIRED
    assert error.verified_claims is not None
    assert error.verified_claims["jti"] == "jti-1"


def test_not_yet_valid(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(nbf=NOW + 31), key)
    error = refused(verifier, token)
    assert error.reason is Reason.TOKEN_INVALID
    assert error.audit_detail == "not yet valid (nbf)"


def test_issued_in_the_future(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(iat=NOW + 31, nbf=NOW, exp=NOW + 600), key)
    assert refused(verifier, token).audit_detail == "iat in the future"


def test_lifetime_too_long_or_inverted(key: SigningKey) -> None:
    verifier = verifier_for(key, max_lifetime=600)
    refused(verifier, mint(valid_claims(iat=NOW, nbf=NOW, exp=NOW + 601), key))
    refused(verifier, mint(valid_claims(iat=NOW, nbf=NOW, exp=NOW), key))
    assert verifier.verify(mint(valid_claims(iat=NOW, nbf=NOW, exp=NOW + 600), key), now=NOW)


def test_wrong_iss(key: SigningKey, verifier: TokenVerifier) -> None:
    error = refused(verifier, mint(valid_claims(iss=ISSUER + "/evil"), key))
    assert error.reason is Reason.TOKEN_INVALID
    assert error.audit_detail == "wrong iss"


@pytest.mark.parametrize("aud", ["other-gateway", ["a", "b"], AUDIENCE.upper()])
def test_wrong_aud(key: SigningKey, verifier: TokenVerifier, aud: object) -> None:
    error = refused(verifier, mint(valid_claims(aud=aud), key))
    assert error.reason is Reason.AUDIENCE_MISMATCH
    assert error.verified_claims is not None


def test_oversized_token(key: SigningKey) -> None:
    token = mint(valid_claims(padding="x" * 9000), key)
    assert refused(verifier_for(key), token).audit_detail == "token too large or not text"
    assert verifier_for(key, max_token_bytes=len(token)).verify(token, now=NOW)
    refused(verifier_for(key, max_token_bytes=len(token) - 1), token)


def test_non_ascii_token(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(), key)
    refused(verifier, token[:-1] + "é")


@pytest.mark.parametrize(
    "make",
    [
        lambda t: "",
        lambda t: "....",
        lambda t: "a.b.c",
        lambda t: "!!!.???.***",
        lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else t + "+",
        lambda t: t.split(".")[0] + "=." + ".".join(t.split(".")[1:]),
        lambda t: " " + t,
        lambda t: t + "\n",
        lambda t: t.replace(".", ". ", 1),
    ],
)
def test_garbage_base64(key: SigningKey, verifier: TokenVerifier, make: Any) -> None:
    refused(verifier, make(mint(valid_claims(), key)))


def test_two_and_four_segments(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(), key)
    h, p, s = token.split(".")
    for bad in (f"{h}.{p}", f"{h}.{p}.{s}.{s}", f"{h}.{p}.{s}.", h):
        assert refused(verifier, bad).audit_detail == "not a three-segment JWS compact token"


@pytest.mark.parametrize(
    "raw_header",
    [b"not json", b"[1,2]", b'"EdDSA"', b"\xff\xfe", b'{"alg":"EdDSA","alg":"EdDSA"}', b""],
)
def test_non_json_header(key: SigningKey, verifier: TokenVerifier, raw_header: bytes) -> None:
    h = b64url_encode(raw_header)
    p = b64url_encode(json.dumps(valid_claims()).encode())
    token = f"{h}.{p}.{b64url_encode(signer(key)(f'{h}.{p}'.encode()))}"
    assert refused(verifier, token).audit_detail == "header is not a strict JSON object"


@pytest.mark.parametrize(
    "raw_payload",
    [b"not json", b"[1]", b"\xff", b'{"sub":"a","sub":"b"}', b'{"exp":NaN}', b""],
)
def test_non_json_payload(key: SigningKey, verifier: TokenVerifier, raw_payload: bytes) -> None:
    h = b64url_encode(json.dumps(header(key)).encode())
    p = b64url_encode(raw_payload)
    token = f"{h}.{p}.{b64url_encode(signer(key)(f'{h}.{p}'.encode()))}"
    assert refused(verifier, token).audit_detail == "payload is not a strict JSON object"


def test_duplicate_claim_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    # Two parsers could disagree on which "aud" wins; refuse rather than choose.
    body = json.dumps(valid_claims())[:-1] + f', "aud": "{AUDIENCE}"' + "}"
    h = b64url_encode(json.dumps(header(key)).encode())
    p = b64url_encode(body.encode())
    token = f"{h}.{p}.{b64url_encode(signer(key)(f'{h}.{p}'.encode()))}"
    refused(verifier, token)


def test_jws_json_serialization(key: SigningKey, verifier: TokenVerifier) -> None:
    h, p, s = mint(valid_claims(), key).split(".")
    flattened = json.dumps({"protected": h, "payload": p, "signature": s})
    general = json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]})
    refused(verifier, flattened)
    refused(verifier, general)


def test_resolver_is_asked_only_for_well_formed_headers(key: SigningKey) -> None:
    asked: list[str] = []

    def resolve(kid: str) -> None:
        asked.append(kid)

    verifier = TokenVerifier(resolve, issuer=ISSUER, audience=AUDIENCE)
    refused(verifier, forge(header(key, alg="none"), valid_claims(), lambda _: b""))
    assert asked == []
    refused(verifier, mint(valid_claims(), key))
    assert asked == [key.kid]


def test_a_refused_header_is_refused_every_time(key: SigningKey, verifier: TokenVerifier) -> None:
    """Accepted headers are remembered by their encoded form; refused ones never are."""
    good = mint(valid_claims(), key)
    verifier.verify(good, now=NOW)
    bad = forge(header(key, alg="HS256"), valid_claims(), signer(key))
    for _ in range(3):
        assert "alg HS256" in refused(verifier, bad).audit_detail


def test_the_accepted_header_memory_is_bounded_and_still_checks_signatures(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    from broker.tokens import _jws

    for n in range(_jws._ACCEPTED_HEADERS_MAX + 10):
        # Distinct, well-formed headers (an extra member) for a kid the verifier knows.
        verifier.verify(forge(header(key, n=n), valid_claims(), signer(key)), now=NOW)
    assert len(_jws._ACCEPTED_HEADERS) <= _jws._ACCEPTED_HEADERS_MAX
    # A remembered header with a foreign signature is still refused.
    other = generate_signing_key(now=NOW - 3600, activates_at=NOW - 3600)
    forged = forge(header(key), valid_claims(), signer(other))
    assert "signature" in refused(verifier, forged).audit_detail
