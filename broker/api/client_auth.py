"""Which client authentication a request to introspection or revocation presents. Pure.

RFC 6749 2.3.1 (``client_secret_basic``, ``client_secret_post``) and, as capbroker's own
extension with no registered name, a capbroker credential as a Bearer header. RFC 6749
2.3: a client uses exactly one method, so two are refused, as is none.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from broker.errors import InvalidRequest, Reason, Unauthenticated

Method = Literal["client_secret_basic", "client_secret_post", "bearer"]
# The registered names this server accepts, as its metadata advertises them.
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class PresentedClient:
    method: Method
    client_id: str | None  # None for a Bearer credential: the credential names its holder
    secret: str

    def __repr__(self) -> str:
        return f"PresentedClient(method={self.method!r}, client_id={self.client_id!r}, secret=***)"


def _refused(detail: str) -> Unauthenticated:
    return Unauthenticated(detail, reason=Reason.INVALID_CLIENT)


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _refused("the Basic credentials are not base64 of client_id:client_secret") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or not secret:
        raise _refused("the Basic credentials are not base64 of client_id:client_secret")
    # RFC 6749 2.3.1: both halves are form-urlencoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


def presented_client(authorization: str, form: Mapping[str, str]) -> PresentedClient:
    """The one client authentication in the request, or a refusal saying what is wrong."""
    found: list[PresentedClient] = []
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic":
        client_id, secret = _basic(value)
        found.append(PresentedClient("client_secret_basic", client_id, secret))
    elif scheme.lower() == "bearer" and value.strip():
        found.append(PresentedClient("bearer", None, value.strip()))
    elif authorization:
        raise _refused(f"the Authorization scheme {scheme!r} is not accepted")
    if "client_secret" in form:
        if not form.get("client_id"):
            raise _refused("client_secret needs the client_id beside it")
        found.append(
            PresentedClient("client_secret_post", form["client_id"], form["client_secret"])
        )
    if "client_assertion" in form or "client_assertion_type" in form:
        raise _refused(f"{JWT_BEARER} client assertions (private_key_jwt) are not accepted")
    if len(found) > 1:
        raise InvalidRequest("use exactly one client authentication method (RFC 6749 2.3)")
    if not found:
        raise _refused(
            "authenticate the client (client_secret_basic, client_secret_post or Bearer)"
        )
    client = found[0]
    if client.method == "bearer" and "client_id" in form:
        raise InvalidRequest("client_id with a Bearer credential: use client_secret_post")
    return client
