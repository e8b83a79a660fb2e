"""The NetworkPolicy evaluator the chart tests rely on, held to the documented semantics."""

from __future__ import annotations

from typing import Any

from tests.chart.netpol import Address, Cluster, Pod, default_deny, selector_matches


def policy(namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": spec,
    }


WEB = Pod("app", {"role": "web"}, "10.0.0.5")
DB = Pod("app", {"role": "db"}, "10.0.0.6")
OTHER = Pod("other", {"role": "web"}, "10.1.0.5")


def test_no_policy_allows_and_default_deny_refuses_both_ways() -> None:
    assert Cluster([]).can_reach(WEB, DB, 5432)
    assert not Cluster([default_deny("app")]).can_reach(WEB, DB, 5432)
    assert not Cluster([default_deny("other")]).can_reach(OTHER, DB, 5432)  # egress
    assert Cluster([default_deny("other")]).can_reach(WEB, DB, 5432)  # another namespace's


def test_both_ends_must_allow() -> None:
    egress = policy(
        "app",
        {
            "podSelector": {"matchLabels": {"role": "web"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "db"}}}],
                        "ports": [{"protocol": "TCP", "port": 5432}]}],
        },
    )  # fmt: skip
    ingress = policy(
        "app",
        {
            "podSelector": {"matchLabels": {"role": "db"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "web"}}}]}],
        },
    )
    deny = default_deny("app")
    assert not Cluster([deny, egress]).can_reach(WEB, DB, 5432)
    assert Cluster([deny, egress, ingress]).can_reach(WEB, DB, 5432)
    assert not Cluster([deny, egress, ingress]).can_reach(WEB, DB, 5433)
    # A bare podSelector peer means the policy's own namespace only.
    assert not Cluster([egress]).can_reach(WEB, Pod("other", {"role": "db"}), 5432)


def test_namespace_and_pod_selectors_together_and_ip_blocks() -> None:
    rule = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}},
                "podSelector": {"matchLabels": {"role": "web"}},
            },
            {"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}},
        ]
    }
    egress = policy("app", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]})
    cluster = Cluster([egress])
    assert cluster.can_reach(WEB, OTHER, 80)
    assert not cluster.can_reach(WEB, Pod("other", {"role": "db"}), 80)
    assert not cluster.can_reach(WEB, Pod("third", {"role": "web"}), 80)
    assert cluster.can_reach(WEB, Address("192.0.2.10"), 443)
    assert not cluster.can_reach(WEB, Address("192.0.2.200"), 443)
    assert not cluster.can_reach(WEB, Address("198.51.100.1"), 443)
    # An empty peer list allows nothing; an omitted one everything.
    empty = policy("app", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": []}]})
    assert not Cluster([empty]).can_reach(WEB, DB, 1)
    anywhere = policy("app", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})
    assert Cluster([anywhere]).can_reach(WEB, Address("203.0.113.1"), 1)


def test_selector_expressions() -> None:
    labels = {"a": "1", "b": "2"}
    assert selector_matches({}, labels)
    assert selector_matches(
        {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "c", "operator": "DoesNotExist"}]}, labels
    )
    assert not selector_matches({"matchExpressions": [{"key": "c", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchLabels": {"a": "1", "b": "3"}}, labels)
