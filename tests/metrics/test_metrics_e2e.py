"""/metrics on a served broker and gateway: real processes, real calls (allowed, refused,
held), the exposition parsed with prometheus_client's own parser; every series checked
against the label guard's closed sets, and nothing secret in any label or value."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker.demo.world import PROVIDER
from broker.metrics.broker import BrokerMetrics
from broker.metrics.gateway import GatewayMetrics
from broker.metrics.labels import Guard
from tests.support.leakcheck import find_secrets
from tests.support.processes import demo_stack
from tests.support.servers import HOST, free_port

pytestmark = pytest.mark.slow
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(port: int) -> tuple[str, Series, dict[str, list[dict[str, str]]]]:
    text = httpx.get(f"http://{HOST}:{port}/metrics", timeout=10).text
    series: Series = {}
    labels: dict[str, list[dict[str, str]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
            labels[family.name.removesuffix("_created")].append(
                {k: v for k, v in sample.labels.items() if k not in ("le", "quantile")}
            )
    return text, series, labels


def _value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


def _within_guard(guard: Guard, labels: dict[str, list[dict[str, str]]]) -> None:
    capbroker = {name for name in labels if name.startswith("capbroker_")}
    assert capbroker <= set(guard.allowed), capbroker - set(guard.allowed)
    for name in capbroker:
        allowed = guard.allowed[name]
        for sample in labels[name]:
            assert set(sample) == set(allowed), (name, sample)
            for key, value in sample.items():
                assert value in allowed[key], (name, key, value)


def test_broker_and_gateway_metrics_count_calls_and_hold_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker_metrics, gateway_metrics = free_port(), free_port()
    monkeypatch.setenv("CAPBROKER_METRICS_PORT", str(broker_metrics))
    with demo_stack(tmp_path) as stack:
        stack.env["CAPBROKER_METRICS_PORT"] = str(gateway_metrics)
        url, _ = stack.start_gateway()
        base = url.rsplit("/", 2)[0]
        auth = stack.token_headers()
        token = auth["Authorization"].removeprefix("Bearer ")
        tokens_url = f"http://{HOST}:{stack.broker_port}/v1/tokens"
        agent = {"Authorization": f"Bearer {stack.agent}"}

        def call(query: str, variables: dict[str, str] | None = None) -> httpx.Response:
            body = {"query": query, "variables": variables or {}}
            return httpx.post(url, json=body, headers=auth, timeout=10)

        assert call("{ projects { id name } }").status_code == 200
        delete = "mutation($v: ID!) { volumeDelete(volumeId: $v) }"
        held = call(delete, {"v": "vol-cache"})
        assert held.json()["code"] == "approval_required"
        assert call(delete, {"v": "vol-pg"}).json()["code"] == "environment_not_granted"
        backup = 'mutation { volumeBackupDelete(backupId: "bkp-pg-2") }'
        assert call(backup).json()["code"] == "forbidden_verb"
        unknown = httpx.post(f"{base}/no-such-provider-vol-x/x", headers=auth, timeout=10)
        assert unknown.status_code in (403, 404)
        bare = httpx.post(url, json={"query": "{ projects { id } }"}, timeout=10)
        assert bare.status_code == 401
        ask = {"template": "nope", "environment": "staging"}
        refused = httpx.post(tokens_url, headers=agent, json=ask, timeout=10)
        assert refused.json()["code"] == "unknown_template"
        wrong_agent = {"Authorization": "Bearer capb_agt_x"}
        wrong = httpx.post(tokens_url, headers=wrong_agent, json=ask, timeout=10)
        assert wrong.status_code == 401

        gw_text, gw, gw_labels = _scrape(gateway_metrics)
        br_text, br, br_labels = _scrape(broker_metrics)
        secrets = (token, stack.agent, stack.env["MASTER"])

    decisions = "capbroker_gateway_decisions_total"
    p = PROVIDER
    assert _value(gw, decisions, provider=p, effect="read", outcome="allowed", reason="none") == 1
    held_series = {"effect": "destructive", "outcome": "held", "reason": "approval_required"}
    assert _value(gw, decisions, provider=p, **held_series) == 1
    for reason in ("environment_not_granted", "forbidden_verb"):
        denied = {"effect": "destructive", "outcome": "denied", "reason": reason}
        assert _value(gw, decisions, provider=p, **denied) == 1
    # The path's provider is none configured: counted under "other", not under its name.
    unrouted = {"provider": "other", "effect": "none", "outcome": "denied"}
    assert _value(gw, decisions, **unrouted, reason=unknown.json()["code"]) == 1
    assert _value(gw, decisions, provider=p, effect="none", outcome="denied",
                  reason=bare.json()["code"]) == 1  # fmt: skip
    upstream = "capbroker_gateway_upstream_responses_total"
    assert _value(gw, upstream, provider=p, status_class="2xx") == 1
    assert _value(gw, "capbroker_gateway_overhead_seconds_count", provider=p) == 1
    assert _value(gw, "capbroker_gateway_upstream_seconds_count", provider=p) == 1
    # vol-cache and vol-pg were looked up upstream; the held call's answer was cached.
    assert _value(gw, "capbroker_gateway_lookups_total", provider=p, source="upstream") >= 2
    assert _value(gw, "capbroker_audit_commit_seconds_count") >= 1
    assert _value(gw, "capbroker_audit_batch_units_sum") >= 6  # every decision was written
    assert 0 <= _value(gw, "capbroker_gateway_revocations_age_seconds") < 10

    assert _value(br, "capbroker_issuances_total", via="tokens") == 1
    refusals = "capbroker_issuance_refusals_total"
    assert _value(br, refusals, via="tokens", reason="unknown_template") == 1
    assert _value(br, refusals, via="tokens", reason=wrong.json()["code"]) == 1
    assert _value(br, "capbroker_approvals_pending") == 1
    assert _value(br, "capbroker_audit_commit_seconds_count") >= 1

    _within_guard(GatewayMetrics([p]).guard, gw_labels)
    _within_guard(BrokerMetrics().guard, br_labels)
    for text in (gw_text, br_text):
        assert find_secrets(text) == []
        for secret in secrets:
            assert secret not in text
            assert secret[:12] not in text
        assert "no-such-provider" not in text
        assert "vol-" not in text


def test_metrics_port_is_refused_with_workers(tmp_path: Path) -> None:
    from tests.support.processes import cli

    providers = tmp_path / "providers.yaml"
    providers.write_text("providers: []\n")
    env = {"CAPBROKER_METRICS_PORT": str(free_port())}
    refused = cli(tmp_path / "d", "serve", "--workers", "2", env=env)
    assert refused.returncode != 0
    assert "metrics_port serves one process" in refused.stderr
    refused = cli(
        tmp_path / "d", "gateway", "serve", "--providers", str(providers), "--workers", "2",
        env=env,
    )  # fmt: skip
    assert "metrics_port serves one process" in refused.stderr
