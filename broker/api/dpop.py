"""DPoP proofs at the token endpoints (RFC 9449 section 5): ``/oauth/token`` and ``/v1/tokens``.

A request may carry one ``DPoP`` header; its proof must sign ``POST`` and the endpoint's
URL as the client addressed it. That URL is the broker's issuer (the configured external
name, what the metadata advertises as ``token_endpoint``) plus the route's path, never the
Host header or scheme the broker itself sees: behind a reverse proxy those are the proxy's
(docs/tokens.md). No ``ath`` at issuance (there is no token yet); each proof's ``jti`` is
used once per key and process (``DPoPVerifier``'s bounded cache). The verified key's
thumbprint becomes the token's ``cnf.jkt``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from broker.errors import InvalidRequest, Reason
from broker.gateway.sender import CallTarget, check_sender, presented
from broker.services.container import Services
from broker.tokens import VerifiedToken
from broker.tokens.dpop import DPoPVerifier, InvalidProof

HEADER = "dpop"


def proof_values(request: Request[Any, Any, Any]) -> list[str]:
    """Every ``DPoP`` header value the request carries, in order."""
    return list(request.headers.getall(HEADER, []))


def refused_proof(detail: str) -> InvalidRequest:
    return InvalidRequest(detail, reason=Reason.INVALID_DPOP_PROOF)


def request_jkt(request: Request[Any, Any, Any], services: Services, path: str) -> str | None:
    """``issuance_jkt`` for a request to the broker route ``path``."""
    return issuance_jkt(
        proof_values(request),
        verifier=services.dpop,
        issuer=services.settings.effective_issuer,
        path=path,
        now=services.clock(),
    )


def issuance_jkt(
    values: list[str], *, verifier: DPoPVerifier, issuer: str, path: str, now: float
) -> str | None:
    """The thumbprint of the key that signed the request's one proof (None: no proof), or
    an ``invalid_dpop_proof`` refusal. The cause is the caller's to see: the proof is its
    own, signed by its own key, and the text names only the check (a fixed vocabulary)."""
    if not values:
        return None
    if len(values) > 1:
        raise refused_proof("send exactly one DPoP header (RFC 9449 4.3)")
    try:
        checked = verifier.verify(
            values[0].strip(), method="POST", url=f"{issuer}{path}", now=now, access_token=None
        )
    except InvalidProof as exc:
        raise refused_proof(f"the DPoP proof was not accepted: {exc.audit_detail}") from None
    return checked.jkt


def presented_token(
    request: Request[Any, Any, Any], services: Services, path: str
) -> VerifiedToken:
    """The capability token a request to a broker route carries, held to its binding as the
    gateway holds it (``broker/gateway/sender.py``): a DPoP-bound token needs the DPoP
    scheme and a proof for this method and the route's URL under the issuer."""
    shown = presented(list(request.scope["headers"]))
    token = services.issuance.verify(shown.token)
    url = f"{services.settings.effective_issuer}{path}"  # as for issuance: never the Host
    check_sender(
        shown,
        token,
        CallTarget(request.method, url),
        verifier=services.dpop,
        now=services.clock(),
    )
    return token
