"""The gateway's metrics: decisions, upstream answers and time, its own added time,
look-ups, audit commits, revocation staleness.

``instrument_gateway`` attaches them to a built gateway at its few recording points: the
recorder (each decision once committed, each refusal once audited, each forwarded call's
outcome), every provider's resolver (look-ups answered from the cache or upstream) and
the group commit. Revocation staleness is read when scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from broker.metrics.commits import CommitMetrics
from broker.metrics.endpoint import MetricsEndpoint, new_registry
from broker.metrics.labels import (
    EFFECTS,
    FAST_BUCKETS,
    LOOKUP_SOURCES,
    NONE,
    OUTCOMES,
    REASONS,
    SLOW_BUCKETS,
    STATUS_CLASSES,
    Guard,
    label_sets,
    status_class,
)

if TYPE_CHECKING:
    from broker.gateway.app import Gateway
    from broker.settings import Settings

REVOCATIONS_AGE = "capbroker_gateway_revocations_age_seconds"


def decision_outcome(*, allowed: bool, held: bool, dry_run: bool) -> str:
    if dry_run:
        return "dry_run"
    if allowed:
        return "allowed"
    return "held" if held else "denied"


class GatewayMetrics:
    def __init__(
        self,
        providers: Iterable[str],
        registry: CollectorRegistry | None = None,
        *,
        revocations_age: Callable[[], float] = lambda: float("inf"),
    ) -> None:
        self.registry = registry if registry is not None else new_registry()
        self.guard = guard = Guard(self.registry)
        s = label_sets(
            provider=providers,
            effect=EFFECTS,
            outcome=OUTCOMES,
            reason=REASONS,
            status_class=STATUS_CLASSES,
            source=LOOKUP_SOURCES,
        )
        self._decisions = guard.counter(
            "capbroker_gateway_decisions",
            "Gateway decisions and refusals, by provider, effect, outcome and reason code.",
            s["provider"],
            s["effect"],
            s["outcome"],
            s["reason"],
        )
        self._upstream = guard.counter(
            "capbroker_gateway_upstream_responses",
            "Forwarded calls' upstream answers, by provider and status class.",
            s["provider"],
            s["status_class"],
        )
        self._upstream_seconds = guard.histogram(
            "capbroker_gateway_upstream_seconds",
            "From the committed decision to the end of the upstream's answer.",
            SLOW_BUCKETS,
            s["provider"],
        )
        self._overhead = guard.histogram(
            "capbroker_gateway_overhead_seconds",
            "The gateway's own time before forwarding: from the request to its committed "
            "decision (verification, classification, look-ups, the audit commit).",
            FAST_BUCKETS,
            s["provider"],
        )
        self._lookups = guard.counter(
            "capbroker_gateway_lookups",
            "Environment look-ups, answered from the cache or sent upstream.",
            s["provider"],
            s["source"],
        )
        self.commits = CommitMetrics(guard)
        guard.gauge(
            REVOCATIONS_AGE,
            "Seconds since the last good read of revocations (calls are refused past its limit).",
            revocations_age,
        )

    def decided(self, provider: str, effect: str | None, outcome: str, reason: str | None) -> None:
        self._decisions.labels(provider, effect or NONE, outcome, reason or NONE).inc()

    def forwarding(self, provider: str, overhead_s: float) -> None:
        self._overhead.labels(provider).observe(overhead_s)

    def completed(self, provider: str, status: int, upstream_s: float) -> None:
        self._upstream.labels(provider, status_class(status)).inc()
        self._upstream_seconds.labels(provider).observe(upstream_s)

    def lookup_counter(self, provider: str) -> Callable[[str], None]:
        """What one provider's resolver calls with ``cache`` or ``upstream``."""

        def count(source: str) -> None:
            self._lookups.labels(provider, source).inc()

        return count


def instrument_gateway(gateway: Gateway, settings: Settings) -> GatewayMetrics:
    """Attach metrics to ``gateway``; with ``metrics_port`` set, it serves them there
    from start to stop."""
    pipeline, feed = gateway.pipeline, gateway.feed
    # The feed's last good read (+inf before the first).
    metrics = GatewayMetrics(
        pipeline.providers, revocations_age=lambda: feed.clock() - feed._fresh_at
    )
    pipeline.recorder.metrics = metrics
    gateway.store.committer.on_commit = metrics.commits.observe
    for name, route in pipeline.providers.items():
        if route.resolver is not None:
            route.resolver.on_lookup = metrics.lookup_counter(name)
    if settings.metrics_port:
        gateway.metrics = MetricsEndpoint(
            metrics.registry, settings.metrics_host, settings.metrics_port
        )
    return metrics
