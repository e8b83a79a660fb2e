"""JWTs that other issuers signed (workload identity: Kubernetes, CI): header and signature.

The same discipline as capbroker's own tokens: a size cap before parsing, canonical
base64url, strict JSON, an algorithm allowlist, ``kid`` required, and the header's
``alg`` must be the algorithm of the key its ``kid`` names. No ``typ`` is required
(Kubernetes sends none, GitHub sends ``JWT``); ``crit`` is refused. Claim checks are the
caller's (broker.identity), on the payload this returns. Failures are one ``InvalidToken``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from broker.tokens import _jwa
from broker.tokens._jwa import FROM_HEADER, PublicKey
from broker.tokens._jws import _shown, segment, strict_object
from broker.tokens.errors import InvalidKey, InvalidToken

MAX_FOREIGN_TOKEN_BYTES = 16384


def _parts(token: object, max_bytes: int) -> list[str]:
    if not isinstance(token, str) or len(token) > max_bytes or not token.isascii():
        raise InvalidToken("token too large or not ASCII text")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a three-segment JWS compact token")
    return parts


def unverified_claims(token: str, *, max_bytes: int = MAX_FOREIGN_TOKEN_BYTES) -> dict[str, Any]:
    """The payload before any check: only to choose whose keys to verify with."""
    return strict_object(segment(_parts(token, max_bytes)[1], "payload"), "payload")


def verify_foreign(
    token: str,
    resolve_key: Callable[[str], PublicKey | None],
    *,
    algorithms: Iterable[str],
    max_bytes: int = MAX_FOREIGN_TOKEN_BYTES,
    kid_optional: bool = False,
) -> tuple[str, dict[str, Any]]:
    """``(kid, payload)`` of a token whose header and signature were accepted. With
    ``kid_optional`` (client assertions: RFC 7523 asks for no ``kid``) a header without
    one is resolved as kid ``""``, which the caller's resolver maps to its only key."""
    header_b64, payload_b64, signature_b64 = _parts(token, max_bytes)
    header = strict_object(segment(header_b64, "header"), "header")
    alg = header.get("alg")
    algorithm = FROM_HEADER.get(alg) if isinstance(alg, str) else None
    if algorithm is None or algorithm not in set(algorithms):
        raise InvalidToken(f"alg {_shown(alg)} refused")
    if "crit" in header:
        raise InvalidToken("crit header refused")
    kid = header.get("kid")
    if kid is None and kid_optional:
        kid = ""
    elif not isinstance(kid, str) or not kid:
        raise InvalidToken("kid missing")
    public = resolve_key(kid)
    if public is None:
        raise InvalidToken("unknown kid")
    try:
        matches = _jwa.algorithm_of(public) == algorithm
    except InvalidKey:
        matches = False
    if not matches:
        raise InvalidToken("alg does not match the key's type")
    signature = segment(signature_b64, "signature")
    if not _jwa.verify(public, signature, f"{header_b64}.{payload_b64}".encode("ascii")):
        raise InvalidToken("signature does not verify")
    return kid, strict_object(segment(payload_b64, "payload"), "payload")
