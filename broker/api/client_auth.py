"""Which client authentication a request to introspection or revocation presents. Pure.

RFC 6749 2.3.1 (``client_secret_basic``, ``client_secret_post``), RFC 7523 2.2
(``private_key_jwt``: ``client_assertion_type`` jwt-bearer with ``client_assertion``;
checked by ``broker.auth.client_assertion``) and, as capbroker's own extension with no
registered name, a capbroker credential as a Bearer header. RFC 6749 2.3: a client uses
exactly one method, so two are refused (``invalid_request``, as RFC 6749 5.2 names "more
than one mechanism for authenticating the client"), as is none (``invalid_client``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from broker.errors import InvalidRequest, Reason, Unauthenticated

Method = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "bearer"]
# The registered names this server accepts, as its metadata advertises them.
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class PresentedClient:
    method: Method
    client_id: str | None  # None for a Bearer credential or an assertion without client_id
    secret: str  # the secret, the credential, or the client assertion

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
        found.append(_assertion(form))
    if len(found) > 1:
        raise InvalidRequest("use exactly one client authentication method (RFC 6749 2.3)")
    if not found:
        raise _refused(
            "authenticate the client (client_secret_basic, client_secret_post,"
            " private_key_jwt or Bearer)"
        )
    client = found[0]
    if client.method == "bearer" and "client_id" in form:
        raise InvalidRequest("client_id with a Bearer credential: use client_secret_post")
    return client


def _assertion(form: Mapping[str, str]) -> PresentedClient:
    """RFC 7521 4.2: both parameters, the type jwt-bearer; ``client_id`` is optional."""
    if not form.get("client_assertion") or not form.get("client_assertion_type"):
        raise InvalidRequest("client_assertion and client_assertion_type go together")
    if form["client_assertion_type"] != JWT_BEARER:
        raise _refused(f"client_assertion_type must be {JWT_BEARER}")
    return PresentedClient("private_key_jwt", form.get("client_id"), form["client_assertion"])
