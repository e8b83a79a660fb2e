"""DPoP proofs (RFC 9449 section 4.3) signed by joserfc, an independent JOSE library."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from broker.tokens import ED25519, ES256, RS256, InvalidKey
from broker.tokens._b64 import b64url_encode
from broker.tokens.dpop import (
    DPoPVerifier,
    InvalidProof,
    jwk_thumbprint,
    normalise_htu,
    sign_proof,
    verify_proof,
)
from broker.tokens.replay import ReplayCache

# joserfc warns that "EdDSA" is deprecated (RFC 9864); we accept both names on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

NOW = 1_800_000_000.0
URL = "https://api.example.com/v1/things"
TOKEN = "eyJhbGciOiJFZERTQSJ9.e30.c2ln"
KEYS: dict[str, Any] = {
    ED25519: (OKPKey.generate_key("Ed25519"), "EdDSA"),
    ES256: (ECKey.generate_key("P-256"), "ES256"),
    RS256: (RSAKey.generate_key(2048), "RS256"),
}


def proof(
    algorithm: str = ED25519,
    *,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    key, alg = KEYS[algorithm]
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False), **(header or {})}
    body = {"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW, **claims}
    for name in drop:
        body.pop(name)
    return jws.serialize_compact(head, json.dumps(body).encode(), key, algorithms=[alg])


def check(token: str, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "method": "POST",
        "url": URL,
        "now": NOW,
        "access_token": None,
        "max_age": 60,
        "leeway": 5,
        "algorithms": (ED25519, ES256, RS256),
        **kw,
    }
    return verify_proof(token, **args)


def refused(token: str, detail: str, **kw: Any) -> None:
    with pytest.raises(InvalidProof) as info:
        check(token, **kw)
    assert detail in info.value.audit_detail


@pytest.mark.parametrize("algorithm", [ED25519, ES256, RS256])
def test_a_proof_of_each_algorithm_verifies(algorithm: str) -> None:
    key, _ = KEYS[algorithm]
    checked = check(proof(algorithm))
    assert checked.jkt == key.thumbprint() == jwk_thumbprint(key.as_dict(private=False))
    assert (checked.jti, checked.iat) == ("j-1", NOW)


def test_rfc7638_example_thumbprint() -> None:
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_refuses_a_private_jwk() -> None:
    with pytest.raises(InvalidKey):
        jwk_thumbprint(KEYS[ED25519][0].as_dict(private=True))


def _forge(header: dict[str, Any], body: dict[str, Any], signature: bytes = b"x" * 64) -> str:
    def seg(v: dict[str, Any]) -> str:
        return b64url_encode(json.dumps(v).encode())

    return f"{seg(header)}.{seg(body)}.{b64url_encode(signature)}"


def test_refusals_of_the_header() -> None:
    refused(proof(header={"typ": "JWT"}), "typ")
    refused(proof(algorithm=ES256, header={"typ": "at+jwt"}), "typ")
    pub = KEYS[ED25519][0].as_dict(private=False)
    body = {"jti": "j", "htm": "POST", "htu": URL, "iat": NOW}
    refused(_forge({"typ": "dpop+jwt", "alg": "none", "jwk": pub}, body, b""), "alg refused")
    refused(_forge({"typ": "dpop+jwt", "alg": "HS256", "jwk": pub}, body), "alg refused")
    refused(_forge({"typ": "dpop+jwt", "alg": "ES256", "jwk": pub}, body), "alg does not match")
    refused(_forge({"typ": "dpop+jwt", "alg": "EdDSA"}, body), "jwk header missing")
    crit = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": pub, "crit": ["x"], "x": 1}
    refused(_forge(crit, body), "crit")
    refused(proof(), "alg refused", algorithms=(ES256,))


@pytest.mark.parametrize("algorithm", [ED25519, ES256, RS256])
def test_a_private_key_in_the_jwk_is_refused(algorithm: str) -> None:
    key, _ = KEYS[algorithm]
    refused(proof(algorithm, header={"jwk": key.as_dict(private=True)}), "private material")


def test_a_bad_signature_is_refused() -> None:
    good = proof(algorithm=ES256)
    other = proof(algorithm=ES256, jti="j-2")
    head, body, _ = good.split(".")
    refused(f"{head}.{body}.{other.split('.')[2]}", "signature does not verify")
    # another key's jwk in the header: the signature was made by a different key
    swapped = proof(header={"jwk": OKPKey.generate_key("Ed25519").as_dict(private=False)})
    refused(swapped, "signature does not verify")
    refused(good + ".x", "one JWS")
    refused("a" * 9000, "too large")


def test_htm_and_htu() -> None:
    refused(proof(htm="GET"), "htm")
    refused(proof(htm="post"), "htm")
    refused(proof(htu="https://api.example.com/v1/other"), "htu")
    refused(proof(htu="https://evil.example.com/v1/things"), "htu")
    refused(proof(htu="http://api.example.com/v1/things"), "htu")
    refused(proof(htu=1), "htu")
    refused(proof(htu="https://user@api.example.com/v1/things"), "htu")
    refused(proof(drop=("htu",)), "htu")
    # query and fragment are ignored, case and default port are normalised
    check(proof(htu=URL + "?a=1#frag"))
    check(proof(), url=URL + "?b=2")
    check(proof(htu="HTTPS://API.Example.COM:443/v1/./things"))


def test_jti() -> None:
    refused(proof(jti=""), "jti")
    refused(proof(jti=7), "jti")
    refused(proof(jti="j" * 257), "jti")
    check(proof(jti="j" * 256))
    refused(proof(jti="a\x00b"), "not a strict JSON object")


def test_iat_window() -> None:
    check(proof(iat=NOW - 65))
    check(proof(iat=NOW + 5))
    refused(proof(iat=NOW - 65.5), "too old")
    refused(proof(iat=NOW + 5.5), "future")
    refused(proof(iat="1"), "NumericDate")
    refused(proof(iat=True), "NumericDate")
    refused(proof(drop=("iat",)), "NumericDate")


def test_ath() -> None:
    ath = b64url_encode(hashlib.sha256(TOKEN.encode()).digest())
    check(proof(ath=ath), access_token=TOKEN)
    refused(proof(), "ath missing", access_token=TOKEN)
    refused(proof(ath=ath[:-2] + "AA"), "ath does not match", access_token=TOKEN)
    refused(proof(ath=ath), "ath does not match", access_token=TOKEN + "x")
    refused(proof(ath=ath), "no access token")


def test_a_replayed_jti_is_refused_and_a_full_cache_fails_closed() -> None:
    verifier = DPoPVerifier(replay=ReplayCache(max_entries=2))
    kw: dict[str, Any] = {"method": "POST", "url": URL, "access_token": None}
    verifier.verify(proof(jti="a"), now=NOW, **kw)
    with pytest.raises(InvalidProof) as info:
        verifier.verify(proof(jti="a"), now=NOW + 1, **kw)
    assert "replayed" in info.value.audit_detail
    verifier.verify(proof(ES256, jti="a"), now=NOW, **kw)  # another key's jti space
    with pytest.raises(InvalidProof) as info:
        verifier.verify(proof(jti="b"), now=NOW, **kw)
    assert "full" in info.value.audit_detail
    # once the first proofs can no longer be accepted their jtis make room
    later = NOW + 100
    verifier.verify(proof(jti="b", iat=later), now=later, **kw)


def test_the_jti_is_kept_through_the_last_instant_a_proof_is_accepted() -> None:
    verifier = DPoPVerifier(max_age=60, leeway=5)
    kw: dict[str, Any] = {"method": "POST", "url": URL, "access_token": None}
    verifier.verify(proof(jti="edge"), now=NOW, **kw)
    with pytest.raises(InvalidProof):
        verifier.verify(proof(jti="edge"), now=NOW + 65, **kw)


_host = st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){0,2}", fullmatch=True)
_path = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{0,8}", fullmatch=True), max_size=4)


def _mixed_case(text: str, flips: list[bool]) -> str:
    padded = flips + [False] * len(text)
    return "".join(c.upper() if f else c for c, f in zip(text, padded, strict=False))


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=_host,
    segments=_path,
    flips=st.lists(st.booleans(), max_size=40),
    explicit_port=st.booleans(),
    query=st.from_regex(r"[a-z0-9=&]{0,10}", fullmatch=True),
)
def test_htu_normalisation_equivalence(
    scheme: str, host: str, segments: list[str], flips: list[bool], explicit_port: bool, query: str
) -> None:
    path = "/" + "/".join(s for s in segments if s not in (".", ".."))
    plain = f"{scheme}://{host}{path}"
    port = (":80" if scheme == "http" else ":443") if explicit_port else ""
    encoded = "".join(f"%{ord(c):02x}" if c in "~-" else c for c in path)
    variant = f"{_mixed_case(scheme, flips)}://{_mixed_case(host, flips)}{port}{encoded}?{query}#f"
    assert normalise_htu(variant) == normalise_htu(plain)
    assert normalise_htu(plain) == plain
    other_port = f"{scheme}://{host}:8443{path}"
    assert normalise_htu(other_port) != normalise_htu(plain)


def test_htu_normalisation_examples() -> None:
    assert normalise_htu("https://a.example/x%2fy") == "https://a.example/x%2Fy"
    assert normalise_htu("https://a.example/x%2fy") != normalise_htu("https://a.example/x/y")
    assert normalise_htu("https://a.example/%7euser") == "https://a.example/~user"
    assert normalise_htu("http://a.example") == "http://a.example/"
    assert normalise_htu("http://a.example:/p") == "http://a.example/p"
    assert normalise_htu("https://a.example:8443/a/b/../c") == "https://a.example:8443/a/c"
    assert normalise_htu("https://[::1]:443/p") == "https://[::1]/p"
    for bad in ("ftp://a/p", "a.example/p", "https:///p", "https://a:99999/p", "https://a:x/p"):
        with pytest.raises(ValueError, match=r"URI|authority|port|host"):
            normalise_htu(bad)


@pytest.mark.parametrize("algorithm", [ED25519, ES256, RS256])
def test_sign_proof_makes_what_joserfc_and_verify_proof_accept(algorithm: str) -> None:
    key, alg = KEYS[algorithm]
    signed = sign_proof(
        key.as_dict(private=True), method="POST", url=URL, now=NOW, jti="s-1", access_token=TOKEN
    )
    registry = jws.JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = 4096  # an RSA jwk header is larger than joserfc's default
    decoded = jws.deserialize_compact(signed, key, registry=registry)  # joserfc's own check
    assert json.loads(decoded.payload)["htu"] == URL
    assert decoded.headers()["typ"] == "dpop+jwt"
    checked = check(signed, access_token=TOKEN)
    assert checked.jkt == key.thumbprint()


def test_sign_proof_refuses_a_key_whose_private_half_is_not_its_public_one() -> None:
    one, other = OKPKey.generate_key("Ed25519"), OKPKey.generate_key("Ed25519")
    mixed = {**one.as_dict(private=False), "d": other.as_dict(private=True)["d"]}
    with pytest.raises(InvalidKey):
        sign_proof(mixed, method="GET", url=URL, now=NOW, jti="x")
    with pytest.raises(InvalidKey):
        sign_proof(one.as_dict(private=False), method="GET", url=URL, now=NOW, jti="x")
