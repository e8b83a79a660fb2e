"""DPoP proofs (RFC 9449 section 4.3) and RFC 7638 JWK thumbprints. Pure: ``now`` is given.

``verify_proof`` checks one proof; ``DPoPVerifier`` adds single use of its ``jti``
(``replay.py``, fail closed when full); ``sign_proof`` is the client's side (the CLI's
``--dpop-key``). The token endpoints bind tokens with it (``broker/api/dpop.py``) and the
gateway checks each call's proof (``broker/gateway/sender.py``); docs/tokens.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from broker.limits import InputProblem, check_document
from broker.tokens import _jwa, _jws
from broker.tokens._b64 import b64url_encode
from broker.tokens._jwa import FROM_HEADER
from broker.tokens._jwk import (
    private_key_from_jwk,
    public_key_from_jwk,
    required_members,
    thumbprint,
)
from broker.tokens.claims import is_number
from broker.tokens.errors import InvalidKey, InvalidToken
from broker.tokens.replay import ReplayCache

PROOF_TYP = "dpop+jwt"
MAX_PROOF_BYTES = 8192  # an RSA-4096 jwk header is under 2 KiB
MAX_JTI_CHARS = 256
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class InvalidProof(InvalidToken):
    """A refused DPoP proof; ``audit_detail`` names the check that failed."""


@dataclass(frozen=True)
class DPoPProof:
    jkt: str  # RFC 7638 thumbprint of the proof's key: compare with the token's cnf.jkt
    jti: str
    iat: float
    replay_until: float  # the proof is acceptable until then, so its jti is kept that long


def jwk_thumbprint(jwk: Mapping[str, object]) -> str:
    """RFC 7638 thumbprint of a public OKP Ed25519, EC P-256 or RSA JWK (``InvalidKey``)."""
    return thumbprint(public_key_from_jwk(jwk, kid_is_thumbprint=False))


def sign_proof(
    private_jwk: Mapping[str, object],
    *,
    method: str,
    url: str,
    now: float,
    jti: str,
    access_token: str | None = None,
) -> str:
    """A DPoP proof (RFC 9449 4.2) by the key ``private_jwk`` for ``method`` and ``url``
    (``ath`` when ``access_token`` is given). ``InvalidKey`` for a JWK it cannot use."""
    private = private_key_from_jwk(private_jwk)
    public = private.public_key()
    algorithm = _jwa.algorithm_of(public)
    header = {"typ": PROOF_TYP, "alg": _jwa.HEADER_NAME[algorithm], "jwk": required_members(public)}
    claims: dict[str, object] = {"jti": jti, "htm": method, "htu": url, "iat": int(now)}
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = _jwa.sign(private, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4."""
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if path.split("/")[-1] in (".", ".."):
        out.append("")
    return "/" + "/".join(out)


def _pct(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def normalise_htu(url: str) -> str:
    """RFC 9449 4.3 (9): the URI without query and fragment, normalised per RFC 3986 6.2.2
    (case, percent-encoding, dot segments) and 6.2.3 (default port, empty path is ``/``).
    ``ValueError`` for anything but an absolute http(s) URI without userinfo."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        raise ValueError("not an absolute http(s) URI")
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    authority, slash, path = rest.partition("/")
    if "@" in authority or not authority:
        raise ValueError("userinfo or empty authority")
    if authority.startswith("["):
        host, bracket, port_part = authority.partition("]")
        host += bracket
        if not bracket or (port_part and not port_part.startswith(":")):
            raise ValueError("bad IP literal")
        port = port_part[1:]
    else:
        host, _, port = authority.partition(":")
    if not host or (port and (not port.isascii() or not port.isdigit() or int(port) > 65535)):
        raise ValueError("bad host or port")
    port = "" if not port or int(port) == int(_DEFAULT_PORTS[scheme]) else str(int(port))
    host = _PCT.sub(_pct, host.lower())
    path = _remove_dot_segments(_PCT.sub(_pct, slash + path)) if slash else "/"
    return f"{scheme}://{host}{':' + port if port else ''}{path}"


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of RFC 9449 section 4.2: base64url SHA-256 of the token's ASCII."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


def _decode(segment: str, what: str) -> bytes:
    try:
        return _jws.segment(segment, f"DPoP proof {what}")
    except InvalidToken as exc:
        raise InvalidProof(exc.audit_detail) from None


def _object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = _jws.strict_object(_decode(segment, what), f"DPoP proof {what}")
        check_document(value)
    except InvalidProof:
        raise
    except InvalidToken as exc:
        raise InvalidProof(exc.audit_detail) from None
    except InputProblem:
        raise InvalidProof(f"DPoP proof {what} is not a strict JSON object") from None
    return value


def _check_header(header: dict[str, Any], algorithms: frozenset[str]) -> tuple[Any, str]:
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != PROOF_TYP:
        raise InvalidProof("DPoP proof typ is not dpop+jwt")
    alg = header.get("alg")
    algorithm = FROM_HEADER.get(alg) if isinstance(alg, str) else None
    if algorithm is None or algorithm not in algorithms:
        raise InvalidProof("DPoP proof alg refused")
    if "crit" in header:
        raise InvalidProof("DPoP proof crit header refused")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidProof("DPoP proof jwk header missing")
    try:
        public = public_key_from_jwk(jwk, kid_is_thumbprint=False)
        key_algorithm = _jwa.algorithm_of(public)
    except InvalidKey as exc:
        raise InvalidProof(f"DPoP proof jwk refused: {exc.detail}") from None
    if key_algorithm != algorithm:
        raise InvalidProof("DPoP proof alg does not match its jwk")
    return public, thumbprint(public)


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None,
    max_age: float,
    leeway: float,
    algorithms: Iterable[str],
) -> DPoPProof:
    """RFC 9449 section 4.3 checks 1-11 but nonce; every refusal is an ``InvalidProof``.

    ``url`` is the request's absolute URI as this server sees it; ``algorithms`` are
    ``_jwa`` names (``Ed25519``, ``ES256``, ``RS256``). Replay is the caller's
    (``DPoPVerifier``)."""
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_BYTES or not proof.isascii():
        raise InvalidProof("DPoP proof too large or not ASCII text")
    parts = proof.split(".")
    if len(parts) != 3:
        raise InvalidProof("DPoP proof is not one JWS compact")
    header_b64, payload_b64, signature_b64 = parts
    public, jkt = _check_header(_object(header_b64, "header"), frozenset(algorithms))
    signature = _decode(signature_b64, "signature")
    if not _jwa.verify(public, signature, f"{header_b64}.{payload_b64}".encode("ascii")):
        raise InvalidProof("DPoP proof signature does not verify")
    claims = _object(payload_b64, "payload")
    jti, htm, htu, iat = (claims.get(n) for n in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
        raise InvalidProof("DPoP proof jti is not a string of 1 to 256 characters")
    if not isinstance(htm, str) or htm != method:
        raise InvalidProof("DPoP proof htm does not match the method")
    try:
        expected = normalise_htu(url)
    except ValueError:
        raise InvalidProof("request URI is not an absolute http(s) URI") from None
    try:
        matches = isinstance(htu, str) and normalise_htu(htu) == expected
    except ValueError:
        matches = False
    if not matches:
        raise InvalidProof("DPoP proof htu does not match the request URI")
    if not is_number(iat):
        raise InvalidProof("DPoP proof iat is not a NumericDate")
    if iat > now + leeway:
        raise InvalidProof("DPoP proof iat in the future")
    if iat < now - max_age - leeway:
        raise InvalidProof("DPoP proof too old")
    ath = claims.get("ath")
    if access_token is None:
        if ath is not None:
            raise InvalidProof("DPoP proof has ath but no access token came with it")
    elif not isinstance(ath, str) or not access_token.isascii():
        raise InvalidProof("DPoP proof ath missing")
    elif not hmac.compare_digest(ath, access_token_hash(access_token)):
        raise InvalidProof("DPoP proof ath does not match the access token")
    # Acceptable through iat + max_age + leeway inclusive: keep the jti just past that.
    until = math.nextafter(iat + max_age + leeway, math.inf)
    return DPoPProof(jkt=jkt, jti=jti, iat=float(iat), replay_until=until)


class DPoPVerifier:
    """``verify_proof`` with fixed settings, then the proof's jti used once per key."""

    def __init__(
        self,
        *,
        max_age: float = 60,
        leeway: float = 5,
        algorithms: Iterable[str] = _jwa.ALGORITHMS,
        replay: ReplayCache | None = None,
    ) -> None:
        self._max_age, self._leeway = max_age, leeway
        self._algorithms = frozenset(algorithms)
        self.replay = replay if replay is not None else ReplayCache()

    def verify(
        self, proof: str, *, method: str, url: str, now: float, access_token: str | None
    ) -> DPoPProof:
        checked = verify_proof(
            proof,
            method=method,
            url=url,
            now=now,
            access_token=access_token,
            max_age=self._max_age,
            leeway=self._leeway,
            algorithms=self._algorithms,
        )
        try:
            self.replay.claim(checked.jkt, checked.jti, until=checked.replay_until, now=now)
        except InvalidToken as exc:
            raise InvalidProof(f"DPoP proof {exc.audit_detail}") from None
        return checked
