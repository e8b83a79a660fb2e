"""Assembles the broker's Litestar app from ready-made services (no globals)."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

import broker
from broker.api.admin import AdminController
from broker.api.agent import AgentController
from broker.api.oauth import OAuthController
from broker.api.problems import EXCEPTION_HANDLERS
from broker.api.public import PublicController
from broker.console import console_router
from broker.services.container import Services


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
        ),
        debug=False,
        logging_config=None,
        on_startup=[services.start_background],
        on_shutdown=[services.stop_background],
    )
