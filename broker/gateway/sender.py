"""Sender-constrained tokens at the gateway (RFC 9449 section 7): how the token was presented.

``presented`` reads the one ``Authorization`` header (``Bearer`` or ``DPoP``) and the
``DPoP`` proof headers; ``check_sender`` holds them to the token's binding:

- a token without ``cnf.jkt`` is a bearer token: presented as ``Bearer`` (a ``DPoP``
  scheme with it is refused: the client believes in a binding that does not exist);
- a bound token is presented as ``DPoP`` with exactly one proof, signed by the key
  ``cnf.jkt`` names, for this call's method and URL as the agent sent it, with ``ath`` the
  hash of this token, inside the ``iat`` window, its ``jti`` unseen by this process.

Refusals are ``SenderRefused`` (a 401 ``InvalidToken``: the audit log gets the cause, the
caller one text and the RFC 9449 7.1 challenge, ``challenge``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from broker.errors import BrokerError, Reason
from broker.gateway.headers import RawHeaders
from broker.tokens import InvalidToken, VerifiedToken, jose_names
from broker.tokens._jwa import ALGORITHMS
from broker.tokens.dpop import DPoPVerifier, InvalidProof

DPOP_HEADER = b"dpop"
SCHEMES = {"bearer": "Bearer", "dpop": "DPoP"}
REFUSED_DETAIL = "the capability token or its DPoP proof was not accepted"
_ALGS = " ".join(jose_names(ALGORITHMS))


@dataclass(frozen=True, slots=True)
class Presented:
    scheme: str  # "Bearer" or "DPoP"
    token: str
    proofs: tuple[str, ...]  # every DPoP header value, in order


@dataclass(frozen=True, slots=True)
class CallTarget:
    """The call a proof must sign: its method, and its absolute URL without the query as
    the agent sent it (None: the front end could not tell, so a bound token is refused)."""

    method: str
    url: str | None


class SenderRefused(InvalidToken):
    """A token presented against its binding, or a proof not accepted (401)."""

    def __init__(self, audit_detail: str, *, reason: Reason) -> None:
        super().__init__(audit_detail, reason=reason)
        self.detail = REFUSED_DETAIL


def presented(headers: RawHeaders) -> Presented:
    """The one ``Authorization`` credential and its scheme, or ``InvalidToken``."""
    values = [v for k, v in headers if k.lower() == b"authorization"]
    if len(values) != 1:
        raise InvalidToken("missing or repeated Authorization header")
    scheme, _, token = values[0].decode("latin-1").partition(" ")
    name = SCHEMES.get(scheme.lower())
    if name is None or not token.strip():
        raise InvalidToken("not a Bearer or DPoP token")
    proofs = tuple(v.decode("latin-1").strip() for k, v in headers if k.lower() == DPOP_HEADER)
    return Presented(name, token.strip(), proofs)


def check_sender(
    shown: Presented,
    token: VerifiedToken,
    call: CallTarget,
    *,
    verifier: DPoPVerifier,
    now: float,
) -> None:
    """Whether the token was presented as its binding asks (``SenderRefused`` if not)."""
    if token.cnf_jkt is None:
        if shown.scheme == "DPoP":
            raise SenderRefused(
                "an unbound token presented with the DPoP scheme",
                reason=Reason.DPOP_BINDING_MISMATCH,
            )
        return
    if shown.scheme != "DPoP":
        raise SenderRefused(
            "a DPoP-bound token presented as Bearer", reason=Reason.DPOP_BINDING_MISMATCH
        )
    if len(shown.proofs) != 1:
        raise SenderRefused(
            "missing or repeated DPoP proof header", reason=Reason.INVALID_DPOP_PROOF
        )
    if call.url is None:
        raise SenderRefused(
            "the request's URL could not be told, so no proof can match it",
            reason=Reason.INVALID_DPOP_PROOF,
        )
    try:
        proof = verifier.verify(
            shown.proofs[0], method=call.method, url=call.url, now=now, access_token=shown.token
        )
    except InvalidProof as exc:
        raise SenderRefused(exc.audit_detail, reason=Reason.INVALID_DPOP_PROOF) from None
    if not hmac.compare_digest(proof.jkt, token.cnf_jkt):
        raise SenderRefused(
            "the DPoP proof's key is not the token's cnf.jkt", reason=Reason.DPOP_BINDING_MISMATCH
        )


def challenge(error: BrokerError) -> bytes | None:
    """RFC 9449 7.1's ``WWW-Authenticate`` for a sender refusal; None for anything else."""
    if error.status != 401:
        return None
    if error.reason is Reason.INVALID_DPOP_PROOF:
        code = "invalid_dpop_proof"
    elif error.reason is Reason.DPOP_BINDING_MISMATCH:
        code = "invalid_token"
    else:
        return None
    return f'DPoP error="{code}", algs="{_ALGS}"'.encode("ascii")


def path_mode_url(public_url: str, scheme: str, headers: RawHeaders, target: str) -> str | None:
    """The URL a path-mode call was addressed to: ``public_url`` (the gateway's own, as
    configured: behind a reverse proxy the only reliable one) plus the raw target; without
    it, the scheme the connection arrived with and the one Host header (None: no or
    several Host headers)."""
    if public_url:
        return public_url.rstrip("/") + target
    hosts = [v for k, v in headers if k.lower() == b"host"]
    if len(hosts) != 1 or not hosts[0].strip():
        return None
    return f"{scheme}://{hosts[0].decode('latin-1').strip()}{target}"
