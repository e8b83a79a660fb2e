"""Assembles the broker's Litestar app from ready-made services (no globals)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

import broker
from broker.api.admin import AdminController
from broker.api.agent import AgentController
from broker.api.oauth import OAuthController
from broker.api.openapi import complete
from broker.api.problems import EXCEPTION_HANDLERS
from broker.api.public import PublicController
from broker.console import console_router
from broker.services.container import Services


class _CompletedJson(JsonRenderPlugin):
    """``/schema/openapi.json``: Litestar's document completed to match what is served."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, complete(openapi_schema))


def create_app(services: Services) -> Litestar:
    def provide_services() -> Services:
        return services

    return Litestar(
        route_handlers=[
            AgentController,
            OAuthController,
            PublicController,
            AdminController,
            console_router(services),
        ],
        dependencies={"services": Provide(provide_services, sync_to_thread=False, use_cache=True)},
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=services.settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="capbroker",
            version=broker.__version__,
            path="/schema",
            description="Scoped, short-lived capability tokens for AI agents.",
            render_plugins=[_CompletedJson()],
        ),
        debug=False,
        logging_config=None,
        on_startup=[services.start_background],
        on_shutdown=[services.stop_background],
    )
