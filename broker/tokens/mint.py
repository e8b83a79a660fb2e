"""Minting: JWS compact, RFC 9068 header ``{"alg":...,"typ":"at+jwt","kid":...}``.

``alg`` is the signer's algorithm under the name verifiers accept (``EdDSA`` for Ed25519,
see broker.tokens._jwa). Built by hand (header, compact JSON, base64url, signature): the
same bytes a JOSE library produces, at a fraction of its per-token cost on the issuance
hot path. The verifier (and the tests' pyjwt cross-check) read them back.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from broker.tokens._b64 import b64url_encode
from broker.tokens._jwa import HEADER_NAME
from broker.tokens.signer import Signer

HEADER_TYP = "at+jwt"


@functools.lru_cache(maxsize=64)
def _encoded_header(kid: str, algorithm: str) -> str:
    header = {"alg": HEADER_NAME[algorithm], "typ": HEADER_TYP, "kid": kid}
    return b64url_encode(json.dumps(header, separators=(",", ":")).encode())


def mint(claims: Mapping[str, Any], signer: Signer) -> str:
    """Sign ``claims`` as given; building and checking them is the issuer's job.

    One code path for every signer: a local key or a Vault Transit key version. Whatever
    ``signer.sign`` raises (``InvalidKey`` for a verify-only key, ``Unavailable`` when
    Transit cannot be reached) propagates, so the caller's transaction fails with it.
    """
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    signing_input = (
        f"{_encoded_header(signer.kid, signer.algorithm)}.{b64url_encode(payload.encode())}"
    )
    signature = signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"
