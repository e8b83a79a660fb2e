"""The replica's HTTP surface, on Litestar (like the demo provider's ``app.py``).

Routes: ``POST /graphql/v2`` (the real API's path), ``GET /healthz`` (open),
``GET /_demo/requests`` and ``POST /_demo/reset`` (admin token). Any other path or method is
logged and answered 404/405. ``delay_s`` holds every GraphQL answer back that long, without
blocking other requests, to answer like a real API over the internet (the benchmark).
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar, MediaType, Request, Response, post
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException

from broker.demo.provider.app import MAX_BODY_BYTES, admin_handlers
from broker.demo.provider.service import Reply
from broker.demo.railway.service import GRAPHQL_PATH, Headers, RailwayService


def _respond(reply: Reply) -> Response[Any]:
    return Response(content=reply.body, status_code=reply.status, media_type=MediaType.JSON)


def _headers(request: Request[Any, Any, Any]) -> Headers:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]


def create_railway_app(service: RailwayService, *, delay_s: float = 0.0) -> Litestar:
    """The replica as an ASGI app; the service is reachable as ``app.state.replica``."""
    if delay_s < 0:
        raise ValueError("the delay must not be negative")

    @post(GRAPHQL_PATH, status_code=200)
    async def graphql(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = await request.body()
        except HTTPException as exc:  # body over MAX_BODY_BYTES
            service.record_other("POST", request.url.path, _headers(request), exc.status_code)
            return _respond(Reply(exc.status_code, {"errors": [{"message": exc.detail}]}))
        reply = service.graphql(request.url.path, _headers(request), body)
        if delay_s:
            await asyncio.sleep(delay_s)
        return _respond(reply)

    def unrouted(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if not request.url.path.startswith("/_demo/"):
            path, status = request.url.path, exc.status_code
            service.record_other(request.method, path, _headers(request), status)
        message = "Not found." if exc.status_code == 404 else "Method not allowed."
        return _respond(Reply(exc.status_code, {"errors": [{"message": message}]}))

    app = Litestar(
        route_handlers=[graphql, *admin_handlers(service)],
        exception_handlers={NotFoundException: unrouted, MethodNotAllowedException: unrouted},
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        debug=False,
        logging_config=None,
    )
    app.state.replica = service
    return app
