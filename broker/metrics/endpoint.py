"""The private metrics port: prometheus_client's own small HTTP server on a thread of its
own, apart from the API's port, so an operator can keep it off the public network."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    start_http_server,
)

from broker.errors import InvalidRequest


def new_registry() -> CollectorRegistry:
    """A process's own registry, with prometheus-client's process, platform and GC series
    (stateless collectors, so sharing them between registries is safe)."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


class MetricsEndpoint:
    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.registry, self.host, self.port = registry, host, port
        self._server: WSGIServer | None = None

    def __repr__(self) -> str:
        return f"MetricsEndpoint({self.host}:{self.port})"

    def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server, _ = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            raise InvalidRequest(
                f"metrics_port {self.port}: cannot listen on {self.host} ({exc.strerror})"
            ) from None

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def check_workers(metrics_port: int, workers: int) -> None:
    """One port serves one process's registry; N workers would fight over it."""
    if metrics_port and workers > 1:
        raise InvalidRequest("metrics_port serves one process: leave out --workers, or set 0")
