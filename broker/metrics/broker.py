"""The broker's metrics: issuances, refusals by reason, audit commits, approvals pending.

``instrument_broker`` attaches them to the built services: the issuance service counts
each token once its record committed and each refusal once answered; the group commit
reports each commit; the approvals still pending are counted when scraped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from sqlalchemy import text

from broker.metrics.commits import CommitMetrics
from broker.metrics.endpoint import MetricsEndpoint, new_registry
from broker.metrics.labels import ISSUANCE_VIA, REASONS, Guard, label_sets

if TYPE_CHECKING:
    from broker.services.container import Services

APPROVALS_PENDING = "capbroker_approvals_pending"
_PENDING = text("SELECT count(*) FROM approvals WHERE status = 'pending' AND expires_at > :now")


class BrokerMetrics:
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        pending_approvals: Callable[[], float] = lambda: 0,
    ) -> None:
        self.registry = registry if registry is not None else new_registry()
        self.guard = guard = Guard(self.registry)
        s = label_sets(via=ISSUANCE_VIA, reason=REASONS)
        self._issued = guard.counter(
            "capbroker_issuances",
            "Capability tokens issued (their records committed), by endpoint.",
            s["via"],
        )
        self._refused = guard.counter(
            "capbroker_issuance_refusals",
            "Token requests refused, by endpoint and reason code.",
            s["via"],
            s["reason"],
        )
        self.commits = CommitMetrics(guard)
        guard.gauge(
            APPROVALS_PENDING,
            "Held calls waiting for a human's decision (not yet expired).",
            pending_approvals,
        )

    def issued(self, via: str) -> None:
        self._issued.labels(via).inc()

    def refused(self, via: str, reason: str) -> None:
        self._refused.labels(via, reason).inc()


def instrument_broker(services: Services) -> MetricsEndpoint | None:
    """Attach metrics to ``services``; the endpoint to start when ``metrics_port`` is set."""

    def pending() -> int:
        with services.db.read() as conn:
            return int(conn.execute(_PENDING, {"now": services.clock()}).scalar_one())

    metrics = BrokerMetrics(pending_approvals=pending)
    services.issuance.metrics = metrics
    services.committer.on_commit = metrics.commits.observe
    settings = services.settings
    if not settings.metrics_port:
        return None
    return MetricsEndpoint(metrics.registry, settings.metrics_host, settings.metrics_port)
