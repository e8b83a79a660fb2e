"""The provider's HTTP surface, on Litestar.

Why Litestar rather than a bare aiohttp app: it is already the project's web framework, it
is ASGI (so uvicorn serves it in a thread or a subprocess, and ``litestar.testing`` can
drive it in-process), and it adds no dependency. The handlers are thin: all behaviour is in
``ProviderService``.

Routes: ``POST /graphql`` and ``GET /graphql`` (master key), ``GET /healthz`` (open),
``GET /_demo/requests`` and ``POST /_demo/reset`` (admin token). Any other path or method is
logged and answered 404/405.
"""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException
from litestar.handlers import HTTPRouteHandler

from broker.clock import Clock, system_clock
from broker.demo.provider.requestlog import RequestLog
from broker.demo.provider.service import ProviderService, Reply
from broker.demo.provider.state import ProviderState

MAX_BODY_BYTES = 1_048_576


def _respond(reply: Reply) -> Response[Any]:
    return Response(
        content=reply.body,
        status_code=reply.status,
        media_type=MediaType.JSON,
        headers=dict(reply.headers),
    )


class Admin(Protocol):
    """What ``/_demo/requests`` and ``/_demo/reset`` call (the admin token is checked there)."""

    def admin_requests(self, authorization: str | None) -> Reply: ...

    def admin_reset(self, authorization: str | None) -> Reply: ...


def admin_handlers(admin: Admin) -> list[HTTPRouteHandler]:
    """``GET /healthz`` (open), ``GET /_demo/requests`` and ``POST /_demo/reset``."""

    @get("/healthz", media_type=MediaType.JSON)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @get("/_demo/requests")
    async def demo_requests(request: Request[Any, Any, Any]) -> Response[Any]:
        return _respond(admin.admin_requests(request.headers.get("authorization")))

    @post("/_demo/reset", status_code=200)
    async def demo_reset(request: Request[Any, Any, Any]) -> Response[Any]:
        return _respond(admin.admin_reset(request.headers.get("authorization")))

    return [healthz, demo_requests, demo_reset]


def create_provider_app(
    master_key: str,
    admin_token: str,
    *,
    clock: Clock = system_clock,
    state: ProviderState | None = None,
    log: RequestLog | None = None,
    echo_auth_header_in_errors: bool = False,
) -> Litestar:
    """The demo provider as an ASGI app.

    Pass ``state`` and ``log`` to inspect or change them from the same process; the service
    itself is reachable as ``app.state.provider``.

    ``echo_auth_header_in_errors`` is TEST ONLY: when True, a 401 body repeats the received
    ``Authorization`` header, so gateway tests can prove that the gateway redacts a master
    key an upstream echoes back. Never enable it anywhere a real key could be sent.
    """
    service = ProviderService(
        master_key,
        admin_token,
        clock=clock,
        state=state,
        log=log,
        echo_auth_header_in_errors=echo_auth_header_in_errors,
    )

    @post("/graphql", status_code=200)
    async def graphql_post(request: Request[Any, Any, Any]) -> Response[Any]:
        auth, path = request.headers.get("authorization"), request.url.path
        try:
            body = await request.body()
        except HTTPException as exc:  # body over MAX_BODY_BYTES
            service.record_other("POST", path, auth, exc.status_code)
            return _respond(Reply(exc.status_code, {"errors": [{"message": exc.detail}]}))
        return _respond(service.graphql("POST", auth, path=path, body=body))

    @get("/graphql")
    async def graphql_get(request: Request[Any, Any, Any]) -> Response[Any]:
        params = {k: request.query_params.get(k) or "" for k in request.query_params}
        auth, path = request.headers.get("authorization"), request.url.path
        return _respond(service.graphql("GET", auth, path=path, params=params))

    def unrouted(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if not request.url.path.startswith("/_demo/"):
            auth = request.headers.get("authorization")
            service.record_other(request.method, request.url.path, auth, exc.status_code)
        message = "Not found." if exc.status_code == 404 else "Method not allowed."
        return _respond(Reply(exc.status_code, {"errors": [{"message": message}]}))

    app = Litestar(
        route_handlers=[graphql_post, graphql_get, *admin_handlers(service)],
        exception_handlers={NotFoundException: unrouted, MethodNotAllowedException: unrouted},
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        debug=False,
        logging_config=None,
    )
    app.state.provider = service
    return app
