from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.errors import Reason
from broker.tokens import (
    InvalidKey,
    InvalidToken,
    SigningKey,
    TokenVerifier,
    mint,
    verify_only,
)
from broker.tokens._b64 import b64url_decode
from tests.tokens.token_builders import AUDIENCE, NOW, valid_claims, verifier_for


def test_header_is_exactly_the_rfc9068_profile(key: SigningKey) -> None:
    header = json.loads(b64url_decode(mint(valid_claims(), key).split(".")[0]))
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}


def test_round_trip_fields(key: SigningKey, verifier: TokenVerifier) -> None:
    claims = valid_claims(cnf={"jkt": "thumb"}, aud=["other", AUDIENCE])
    token = verifier.verify(mint(claims, key), now=NOW)
    assert dict(token.claims) == claims
    assert token.kid == key.kid
    assert (token.jti, token.sub, token.sid, token.client_id) == (
        "jti-1",
        "agent-7",
        "session-1",
        "agent-7",
    )
    assert (token.iat, token.exp) == (claims["iat"], claims["exp"])
    assert (token.template, token.template_version) == ("staging-deployer", 3)
    assert [dict(d) for d in token.authorization_details] == claims["authorization_details"]
    assert token.cnf_jkt == "thumb"


def test_verified_claims_are_read_only(key: SigningKey, verifier: TokenVerifier) -> None:
    token = verifier.verify(mint(valid_claims(), key), now=NOW)
    with pytest.raises(TypeError):
        token.claims["sub"] = "root"  # type: ignore[index]


def test_verify_only_key_cannot_mint(key: SigningKey) -> None:
    with pytest.raises(InvalidKey):
        mint(valid_claims(), verify_only(key))


def test_leeway_edges(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint(valid_claims(nbf=NOW + 30, iat=NOW, exp=NOW + 600), key)
    assert verifier.verify(token, now=NOW).jti == "jti-1"  # nbf within leeway
    late = mint(valid_claims(iat=NOW - 600, nbf=NOW - 600, exp=NOW), key)
    assert verifier.verify(late, now=NOW + 29.9).jti == "jti-1"
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(late, now=NOW + 30)
    assert caught.value.reason is Reason.TOKEN_EXPIRED


def test_typ_compares_case_insensitively(key: SigningKey, verifier: TokenVerifier) -> None:
    # RFC 9068 typ is a media type; media types are case-insensitive.
    from tests.tokens.token_builders import forge

    assert key.private is not None
    token = forge(
        {"alg": "EdDSA", "typ": "AT+JWT", "kid": key.kid}, valid_claims(), key.private.sign
    )
    assert verifier.verify(token, now=NOW).sub == "agent-7"


# Text a store can keep: claims holding NUL are refused (broker/limits.py; a test below).
chars = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(chars, max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(chars, max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
texts = st.text(chars, min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    extra=st.dictionaries(
        st.text(chars, max_size=10).map(lambda s: "x-" + s), json_values, max_size=4
    ),
    sub=texts,
    jti=texts,
    sid=texts,
    version=st.integers(1, 2**31),
    lifetime=st.integers(1, 86_400),
    details=st.lists(
        st.dictionaries(st.text(chars, max_size=8), json_values, max_size=3).map(
            lambda d: {**d, "type": "capbroker"}
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_round_trip_property(
    key: SigningKey,
    extra: dict[str, Any],
    sub: str,
    jti: str,
    sid: str,
    version: int,
    lifetime: int,
    details: list[dict[str, Any]],
) -> None:
    iat = int(NOW)
    claims = valid_claims(
        **extra,
        sub=sub,
        jti=jti,
        sid=sid,
        template_version=version,
        iat=iat,
        nbf=iat,
        exp=iat + lifetime,
        authorization_details=details,
    )
    verified = verifier_for(key).verify(mint(claims, key), now=NOW)
    assert dict(verified.claims) == claims
    assert (verified.sub, verified.jti, verified.sid) == (sub, jti, sid)


@settings(max_examples=400, deadline=None)
@given(position=st.integers(min_value=0), byte=st.integers(0, 255))
def test_any_single_byte_mutation_is_refused(key: SigningKey, position: int, byte: int) -> None:
    token = mint(valid_claims(), key).encode("latin-1")
    position %= len(token)
    if token[position] == byte:
        byte = (byte + 1) % 256
    mutated = bytearray(token)
    mutated[position] = byte
    with pytest.raises(InvalidToken) as caught:
        verifier_for(key).verify(mutated.decode("latin-1"), now=NOW)
    assert caught.value.reason is Reason.TOKEN_INVALID


def test_every_byte_at_each_segment_end_is_refused(key: SigningKey) -> None:
    # Segment ends are where base64 has unused bits; a lax decoder would accept
    # several spellings of one signature there, which random mutation rarely hits.
    token = mint(valid_claims(), key)
    verifier = verifier_for(key)
    ends = [i - 1 for i, c in enumerate(token) if c == "."] + [len(token) - 1]
    for position in ends:
        for byte in range(256):
            if byte == ord(token[position]):
                continue
            mutated = token[:position] + chr(byte) + token[position + 1 :]
            with pytest.raises(InvalidToken):
                verifier.verify(mutated, now=NOW)


def test_minted_tokens_are_standard_jws_that_pyjwt_accepts(key: SigningKey) -> None:
    import jwt as pyjwt

    claims = valid_claims()
    token = mint(claims, key)
    assert pyjwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}
    decoded = pyjwt.decode(
        token,
        key.public,
        algorithms=["EdDSA"],
        audience=claims["aud"],
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert decoded == claims
