"""The console's defences: response headers, the session cookie, CSRF and origin checks.

- Every response carries a strict CSP (no scripts at all: the console has no JavaScript),
  ``nosniff``, ``no-store`` and ``Referrer-Policy: same-origin``. Not ``no-referrer``:
  under that policy browsers send ``Origin: null`` on form posts, which would make the
  origin check below either refuse every post or be worthless. ``same-origin`` still sends
  nothing to any other site (and the console links to none).
- The session cookie is an opaque id, ``HttpOnly``, ``SameSite=Strict``, ``Path=/console``
  and ``Secure`` unless the request is plain http to 127.0.0.1 / localhost / ::1 (local
  development and tests; a browser would drop a Secure cookie there). Behind a TLS proxy
  the request arrives as http for a public host name, so the cookie is Secure.
- Every POST must carry the session's CSRF token (compared in constant time), and its
  ``Origin`` (or, without one, its ``Referer``) must name the host it was sent to.
- The login form, before any session exists, uses a double-submit token: a random value in
  a short-lived ``SameSite=Strict`` cookie that the form must echo.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response

from broker.api.problems import problem
from broker.errors import Reason

COOKIE = "capb_console"
LOGIN_COOKIE = "capb_console_login"
COOKIE_PATH = "/console"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def secure_headers(response: Response[Any]) -> Response[Any]:
    for name, value in HEADERS.items():
        response.headers[name] = value
    return response


def cookie_secure(request: Request[Any, Any, Any]) -> bool:
    return not (request.url.scheme == "http" and (request.url.hostname or "") in _LOCAL_HOSTS)


def set_cookie(
    request: Request[Any, Any, Any], response: Response[Any], key: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=cookie_secure(request),
        httponly=True,
        samesite="strict",
    )


def clear_cookie(request: Request[Any, Any, Any], response: Response[Any], key: str) -> None:
    set_cookie(request, response, key, "", 0)


def same_origin(request: Request[Any, Any, Any]) -> bool:
    """An Origin or Referer header, when present, must name the host the request was sent to."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        # "null" (opaque origins: sandboxed frames, some redirects) is never ours.
        return bool(host) and urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    if referer is not None:
        return bool(host) and urlsplit(referer).netloc == host
    return True


def token_matches(expected: str, given: str | None) -> bool:
    return (
        bool(expected)
        and given is not None
        and hmac.compare_digest(expected.encode(), given.encode())
    )


def csrf_refusal(request: Request[Any, Any, Any], detail: str) -> Response[Any]:
    return secure_headers(
        problem(
            403,
            "Denied",
            detail,
            Reason.INVALID_REQUEST,
            instance=request.url.path,
            refusal="csrf",
        )
    )
