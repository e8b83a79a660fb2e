"""Where the broker API's errors become HTTP: problem+json (``broker.problems``) with a
stable reason code, and under ``/oauth/`` RFC 6749 errors (``broker.api.oauth_errors``)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from broker.api.oauth_errors import OAUTH_PREFIX, challenge, oauth_body
from broker.errors import BrokerError, Reason
from broker.problems import problem_body

log = logging.getLogger("capbroker.api")

# Litestar's own refusals (routing, size cap, method) keep their status and get a code.
_HTTP_REASONS = {
    400: Reason.INVALID_REQUEST,
    401: Reason.UNAUTHENTICATED,
    404: Reason.NOT_FOUND,
    405: Reason.INVALID_REQUEST,
    413: Reason.BODY_TOO_LARGE,
    415: Reason.UNSUPPORTED_MEDIA_TYPE,
}


def problem_response(
    body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    status: int = body["status"]
    sent = {"Cache-Control": "no-store", **(headers or {})}
    if status == 401:
        sent["WWW-Authenticate"] = 'Bearer realm="capbroker"'
    elif body.get("error") == "insufficient_scope":
        sent["WWW-Authenticate"] = 'Bearer realm="capbroker", error="insufficient_scope"'
    return Response(body, status_code=status, media_type="application/problem+json", headers=sent)


def oauth_response(
    request: Request[Any, Any, Any],
    error: BrokerError,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """An RFC 6749 error: application/json, never cached, with the client's challenge."""
    code, body = oauth_body(error, status=status)
    sent = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    www = challenge(body["error"], request.headers.get("authorization", ""))
    if www is not None:
        sent["WWW-Authenticate"] = www
    return Response(body, status_code=code, media_type="application/json", headers=sent)


def refusal(
    request: Request[Any, Any, Any],
    error: BrokerError,
    *,
    status: int | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """The one place a refusal picks its shape: OAuth errors under /oauth/, else problem+json."""
    if request.url.path.startswith(OAUTH_PREFIX):
        return oauth_response(request, error, status, headers)
    body = problem_body(error, instance=request.url.path, status=status, title=title)
    return problem_response(body, headers)


def problem(
    status: int, title: str, detail: str, reason: Reason, *, instance: str = "", **extra: Any
) -> Response[dict[str, Any]]:
    """A refusal given field by field (the console's own)."""
    error = BrokerError(detail, reason=reason, extra=extra)
    return problem_response(problem_body(error, instance=instance, status=status, title=title))


def broker_error(request: Request[Any, Any, Any], exc: BrokerError) -> Response[dict[str, Any]]:
    if exc.status >= 500:
        log.warning("refused with %s: %s", exc.reason.value, exc.detail)
    return refusal(request, exc)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    reason = _HTTP_REASONS.get(exc.status_code, Reason.INVALID_REQUEST)
    detail = exc.detail if exc.status_code != 413 else "the request body is larger than allowed"
    # Litestar's own headers carry meaning (Allow on a 405).
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    error = BrokerError(str(detail), reason=reason)
    return refusal(request, error, status=exc.status_code, title="Request refused", headers=headers)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # The exception type only: messages of library exceptions can carry values we must not echo.
    log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    error = BrokerError("an internal error occurred", reason=Reason.INTERNAL_ERROR)
    return refusal(request, error, status=500, title="Internal error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    BrokerError: broker_error,
    HTTPException: http_error,
    Exception: internal_error,
}
