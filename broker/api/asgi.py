"""The broker app for ``uvicorn --factory`` workers: each worker builds its own services.

Used by ``capbroker serve --workers N``: the parent has already migrated the store,
created the first signing key and the bootstrap admin; each worker process gets its own
engine, its own audit chain and its own group commit, and shares only the database.
"""

from __future__ import annotations

import os

from litestar import Litestar

from broker.api.app import create_app
from broker.services.container import build_services
from broker.settings import load_settings
from broker.workers import tune_gc


def app_from_environment() -> Litestar:
    services = build_services(load_settings(), writer=f"broker-worker:{os.getpid()}")
    services.start_background_checkpoints()
    app = create_app(services)
    tune_gc()
    return app
