"""Build and serve a replica in this process: ``serve_replica(...)`` for tests and the demo.

    with serve_replica(master_key, admin_token) as replica:
        replica.graphql_url         # http://127.0.0.1:PORT/graphql/v2
        replica.ids.shop_production # the seeded ids (the same in every run: seed.IDS)
        replica.state, replica.log  # read or change them while it runs

As a subprocess: ``python -m broker.demo.railway --port P --key-env NAME`` prints
``railway replica listening on URL``; ``--print-ids`` prints the seeded ids as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Litestar

from broker.clock import Clock, system_clock
from broker.demo.provider.requestlog import RequestLog
from broker.demo.provider.server import ServerThread
from broker.demo.railway.app import create_railway_app
from broker.demo.railway.seed import IDS, SeedIds
from broker.demo.railway.service import GRAPHQL_PATH, RailwayService
from broker.demo.railway.state import RailwayState


def build_replica(
    master_key: str,
    admin_token: str,
    *,
    clock: Clock = system_clock,
    workspace_token: str | None = None,
    project_tokens: Mapping[str, tuple[str, str]] | None = None,
    delay_s: float = 0.0,
) -> Litestar:
    """The replica's ASGI app, seeded; its service is ``app.state.replica``. The log redacts
    every token it was given, the admin token included."""
    if len({master_key, admin_token}) != 2:
        raise ValueError("the admin token must differ from the master key")
    state = RailwayState(
        master_key, clock=clock, workspace_token=workspace_token, project_tokens=project_tokens
    )
    secrets = (master_key, admin_token, workspace_token or "", *(project_tokens or {}))
    log = RequestLog(redact=secrets)
    service = RailwayService(state, admin_token, clock=clock, log=log)
    return create_railway_app(service, delay_s=delay_s)


class ReplicaServer(ServerThread):
    """A replica served on 127.0.0.1 by a background thread; stops at the end of a ``with``."""

    ids: SeedIds = IDS

    def __init__(self, app: Litestar, *, port: int = 0) -> None:
        super().__init__(app, port=port)
        self.service: RailwayService = app.state.replica
        self.graphql_url = self.url + GRAPHQL_PATH
        self._started = False

    def __repr__(self) -> str:
        return f"ReplicaServer({self.url})"

    @property
    def state(self) -> RailwayState:
        return self.service.state

    @property
    def log(self) -> RequestLog:
        return self.service.log

    def start(self) -> ReplicaServer:
        """Start serving (once: ``with`` on a started server just enters it)."""
        if not self._started:
            self._started = True
            super().start()
        return self


def serve_replica(
    master_key: str,
    admin_token: str,
    *,
    port: int = 0,
    clock: Clock = system_clock,
    workspace_token: str | None = None,
    project_tokens: Mapping[str, tuple[str, str]] | None = None,
    delay_s: float = 0.0,
) -> ReplicaServer:
    """A started replica (``port`` 0: any free port)."""
    app = build_replica(
        master_key,
        admin_token,
        clock=clock,
        workspace_token=workspace_token,
        project_tokens=project_tokens,
        delay_s=delay_s,
    )
    return ReplicaServer(app, port=port).start()
