"""Where the broker API's errors become HTTP: problem+json (``broker.problems``) with a
stable reason code."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

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


def problem_response(body: dict[str, Any]) -> Response[dict[str, Any]]:
    status: int = body["status"]
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="capbroker"'
    return Response(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def problem(
    status: int, title: str, detail: str, reason: Reason, *, instance: str = "", **extra: Any
) -> Response[dict[str, Any]]:
    """A refusal given field by field (the console's own, Litestar's)."""
    error = BrokerError(detail, reason=reason, extra=extra)
    return problem_response(problem_body(error, instance=instance, status=status, title=title))


def broker_error(request: Request[Any, Any, Any], exc: BrokerError) -> Response[dict[str, Any]]:
    if exc.status >= 500:
        log.warning("refused with %s: %s", exc.reason.value, exc.detail)
    return problem_response(problem_body(exc, instance=request.url.path))


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    reason = _HTTP_REASONS.get(exc.status_code, Reason.INVALID_REQUEST)
    detail = exc.detail if exc.status_code != 413 else "the request body is larger than allowed"
    return problem(
        exc.status_code, "Request refused", str(detail), reason, instance=request.url.path
    )


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # The exception type only: messages of library exceptions can carry values we must not echo.
    log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return problem(
        500,
        "Internal error",
        "an internal error occurred",
        Reason.INTERNAL_ERROR,
        instance=request.url.path,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    BrokerError: broker_error,
    HTTPException: http_error,
    Exception: internal_error,
}
