"""The label guard: a value outside its closed set becomes ``other``, never a series."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from broker.metrics.gateway import GatewayMetrics, decision_outcome
from broker.metrics.labels import Guard, LabelSet, status_class


def test_a_value_outside_the_set_is_recorded_as_other() -> None:
    providers = LabelSet("provider", frozenset({"github"}))
    assert providers("github") == "github"
    assert providers("eyJhbGciOi.secret") == "other"
    assert providers(None) == "other"


def test_every_label_of_a_guarded_metric_is_declared_and_checked() -> None:
    registry = CollectorRegistry()
    guard = Guard(registry)
    counter = guard.counter("x_calls", "doc", LabelSet("kind", frozenset({"a"})))
    counter.labels("a").inc()
    counter.labels("/v1/secret/path?token=abc").inc()
    text = generate_latest(registry).decode()
    assert 'x_calls_total{kind="a"} 1.0' in text
    assert 'x_calls_total{kind="other"} 1.0' in text
    assert "token" not in text
    assert guard.allowed["x_calls"] == {"kind": frozenset({"a", "other"})}
    with pytest.raises(TypeError):
        counter.labels("a", "b")


def test_gateway_labels_come_from_closed_sets() -> None:
    metrics = GatewayMetrics(["railway"])
    metrics.decided("railway", "destructive", "held", "approval_required")
    metrics.decided("attacker-chosen", "weird", "maybe", "made_up_reason")
    metrics.completed("railway", 999, 0.01)
    text = generate_latest(metrics.registry).decode()
    for chosen in ("attacker-chosen", "weird", "maybe", "made_up_reason", "999"):
        assert chosen not in text
    assert 'status_class="other"' in text


@pytest.mark.parametrize(
    ("status", "expected"),
    [(100, "1xx"), (204, "2xx"), (503, "5xx"), (99, "other"), (600, "other")],
)
def test_status_class(status: int, expected: str) -> None:
    assert status_class(status) == expected


def test_decision_outcome() -> None:
    assert decision_outcome(allowed=True, held=False, dry_run=True) == "dry_run"
    assert decision_outcome(allowed=False, held=True, dry_run=False) == "held"
    assert decision_outcome(allowed=False, held=False, dry_run=False) == "denied"
    assert decision_outcome(allowed=True, held=False, dry_run=False) == "allowed"
