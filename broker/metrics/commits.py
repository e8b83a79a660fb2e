"""Audit commit latency and batch sizes, common to the broker and the gateway: both write
through a ``GroupCommit``, which reports each commit to ``observe``."""

from __future__ import annotations

from broker.metrics.labels import BATCH_BUCKETS, FAST_BUCKETS, Guard


class CommitMetrics:
    def __init__(self, guard: Guard) -> None:
        self._seconds = guard.histogram(
            "capbroker_audit_commit_seconds",
            "Time one group commit took (every unit in the batch, then the commit).",
            FAST_BUCKETS,
        )
        self._units = guard.histogram(
            "capbroker_audit_batch_units",
            "Units of work (decisions, issuances, records) that shared one commit.",
            BATCH_BUCKETS,
        )

    def observe(self, units: int, seconds: float) -> None:
        """Called by the group commit after each successful commit (any thread)."""
        self._seconds.labels().observe(seconds)
        self._units.labels().observe(units)
