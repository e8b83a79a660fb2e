"""A DPoP client as a user's code would write one (RFC 9449), with joserfc: an independent
JOSE library signs the proofs and computes the key's thumbprint; nothing of ``broker``."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

KINDS: dict[str, tuple[Any, str]] = {
    "ES256": (lambda: ECKey.generate_key("P-256"), "ES256"),
    "Ed25519": (lambda: OKPKey.generate_key("Ed25519"), "EdDSA"),
    "RS256": (lambda: RSAKey.generate_key(2048), "RS256"),
}


def ath(token: str) -> str:
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class ProofKey:
    """One client key pair; ``proof`` signs a DPoP proof JWT for one request."""

    def __init__(self, kind: str = "ES256") -> None:
        make, self.alg = KINDS[kind]
        self.key = make()

    @property
    def jkt(self) -> str:
        """RFC 7638 thumbprint, as joserfc computes it."""
        return str(self.key.thumbprint())

    def private_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=True))

    def proof(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        body: dict[str, Any] = {
            "jti": jti or uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if token is not None:
            body["ath"] = ath(token)
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.key.as_dict(private=False)}
        return jws.serialize_compact(
            header, json.dumps(body).encode(), self.key, algorithms=[self.alg]
        )
