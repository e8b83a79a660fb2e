"""Every shipped value set works once NetworkPolicy is enforced, in a default-deny namespace:
each pod the chart renders (including the hooks, which exist while their job runs) reaches
what it needs and nothing more, judged from the rendered policies by tests/chart/netpol.py.

Where PostgreSQL, Vault, the providers and the issuer are comes from the value set itself
(a CIDR's first address, or a pod in the namespace its selectors name)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.chart.chart_support import CHART, NAMESPACE, VALUE_SETS, find, pod_spec, render
from tests.chart.netpol import Address, Cluster, Pod, default_deny

AGENT_NAMESPACE = "agents"  # another namespace, where agents also run
NOWHERE = Address("198.18.0.1")  # an address no value set names
MULTI = (
    "gateways[0].name=github",
    "gateways[0].providers[0].name=github",
    "gateways[0].providers[0].route_map=github",
    "gateways[0].providersEgress[0].cidr=140.82.112.0/20",
    "gateways[0].providersEgress[0].ports[0]=443",
    "gateways[1].name=acme",
    "gateways[1].port=9090",
    "gateways[1].providers[0].name=acme",
    "gateways[1].providers[0].route_map=acme",
    "gateways[1].providersEgress[0].cidr=192.0.2.0/24",
    "gateways[1].providersEgress[0].ports[0]=8443",
    f"networkPolicy.agentEgress.namespaces[0]={AGENT_NAMESPACE}",
)


def merged(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {k: merged(base.get(k), over[k]) if k in base else over[k] for k in over} | {
            k: v for k, v in base.items() if k not in over
        }
    return over


def values_of(value_set: str | None) -> dict[str, Any]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    if value_set is not None:
        values = merged(values, yaml.safe_load(VALUE_SETS[value_set].read_text()))
    return values  # type: ignore[no-any-return]


def first_address(cidr: str, excluded: list[str]) -> Address:
    network = ipaddress.ip_network(cidr)
    for host in network.hosts():
        if not any(host in ipaddress.ip_network(e) for e in excluded):
            return Address(str(host))
    raise AssertionError(cidr)


@dataclass
class World:
    cluster: Cluster
    pods: dict[str, Pod]  # component -> a pod the chart renders

    def reach(self, source: str, destination: Pod | Address | str, port: int) -> bool:
        target = self.pods[destination] if isinstance(destination, str) else destination
        return self.cluster.can_reach(self.pods[source], target, port)


def endpoint(peer: dict[str, Any], cluster: Cluster) -> Pod | Address:
    if "cidr" in peer:
        return first_address(peer["cidr"], peer.get("except", []))
    ns_labels = peer.get("namespaceSelector") or {}
    namespace = ns_labels.get("kubernetes.io/metadata.name", "elsewhere")
    cluster.namespace_labels[namespace] = ns_labels
    return Pod(namespace, peer.get("podSelector") or {}, "10.99.0.1")


def world(value_set: str | None, sets: tuple[str, ...] = ()) -> World:
    docs = render(value_set, sets)
    policies = [
        *find(docs, "NetworkPolicy"),
        default_deny(NAMESPACE),
        default_deny(AGENT_NAMESPACE),
    ]
    cluster = Cluster(policies)
    pods = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "Pod"):
            labels = (doc if doc["kind"] == "Pod" else doc["spec"]["template"])["metadata"][
                "labels"
            ]
            assert pod_spec(doc)["containers"]
            pods[labels["app.kubernetes.io/component"]] = Pod(NAMESPACE, labels)
    pods["agent"] = Pod(NAMESPACE, {"capbroker.dev/agent": "true"})
    pods["remote-agent"] = Pod(AGENT_NAMESPACE, {"capbroker.dev/agent": "true"})
    pods["stranger"] = Pod(NAMESPACE, {"app": "something-else"})
    pods["dns"] = Pod("kube-system", {"k8s-app": "kube-dns"})
    return World(cluster, pods)


PRODUCTION = [s for s in sorted(VALUE_SETS) if values_of(s)["networkPolicy"]["enabled"]]


def gateway_components(w: World) -> list[str]:
    return [c for c in w.pods if c.startswith("gateway")]


@pytest.mark.parametrize(
    ("value_set", "sets"),
    [(s, ()) for s in PRODUCTION] + [("minimal", MULTI)],
    ids=[*PRODUCTION, "several-gateways"],
)
def test_production_pods_reach_what_they_need_and_nothing_else(
    value_set: str, sets: tuple[str, ...]
) -> None:
    values = values_of(value_set)
    np = values["networkPolicy"]
    w = world(value_set, sets)
    pg = [endpoint(p, w.cluster) for p in np["postgresql"]["to"]]
    vault = [endpoint(p, w.cluster) for p in np["vault"]["to"]]
    (pg_port,), vault_port = np["postgresql"]["ports"], np["vault"]["ports"][0]

    # Jobs at first install: their hook policies exist while they run.
    jobs = [c for c in ("migrate", "manifests") if c in w.pods]
    assert "migrate" in jobs
    for component in [*jobs, "broker", *gateway_components(w)]:
        assert w.reach(component, "dns", 53), component
        assert all(w.reach(component, e, pg_port) for e in pg), component
        assert all(w.reach(component, e, vault_port) for e in vault), component
        assert not w.reach(component, NOWHERE, 443), component
    assert not w.reach("migrate", "broker", 8080)

    gateways = gateway_components(w)
    assert len(gateways) == (2 if sets else 1)
    # Agents call the gateways directly unless the value set routes them through an ingress.
    direct = {"namespaceSelector": {}, "podSelector": {"capbroker.dev/agent": "true"}}
    agents_direct = direct in np["agents"]
    entries = values.get("gateways") or [{"port": 8081}]
    if sets:
        entries = [
            {"port": 8081, "providersEgress": [{"cidr": "140.82.112.0/20", "ports": [443]}]},
            {"port": 9090, "providersEgress": [{"cidr": "192.0.2.0/24", "ports": [8443]}]},
        ]
    for component, entry in zip(
        sorted(gateways, key=lambda c: c != "gateway-github"), entries, strict=True
    ):
        port = entry["port"]
        # Each gateway reaches the broker (JWKS) and exactly its own providers.
        assert w.reach(component, "broker", 8080)
        for provider in entry.get("providersEgress") or np["providers"]:
            target = first_address(provider["cidr"], provider.get("except", []))
            assert all(w.reach(component, target, p) for p in provider["ports"]), component
        # Agents anywhere reach it; the test pod does; a stranger does not.
        assert w.reach("agent", component, port) == agents_direct, component
        assert w.reach("remote-agent", component, port) == (agents_direct and bool(sets))
        for peer in np["agents"]:
            if peer != direct:  # e.g. the ingress controller's namespace
                assert w.cluster.can_reach(endpoint(peer, w.cluster), w.pods[component], port)
        assert not w.reach("stranger", component, port)
        if "test" in w.pods:
            assert w.reach("test", component, port)
    if sets:
        github, acme = "gateway-github", "gateway-acme"
        assert not w.reach(github, Address("192.0.2.1"), 8443)
        assert not w.reach(acme, Address("140.82.112.1"), 443)
        assert w.reach("remote-agent", "broker", 8080)
        assert not w.reach("remote-agent", Address("140.82.112.1"), 443)

    if values["settings"].get("issuer"):
        # The issuer behind the ingress: the gateway fetches the JWKS through the controller.
        controller = endpoint(np["issuer"]["to"][0], w.cluster)
        assert isinstance(controller, Pod)
        controller = Pod(controller.namespace, {"app.kubernetes.io/name": "ingress-nginx"})
        assert all(w.reach(g, controller, 443) for g in gateways)
        assert not w.reach("broker", controller, 443)

    # Agents: only the gateways, the broker (token requests) and DNS.
    assert w.reach("agent", "broker", 8080)
    assert w.reach("agent", "dns", 53)
    for provider in np["providers"]:
        target = first_address(provider["cidr"], provider.get("except", []))
        assert not w.reach("agent", target, provider["ports"][0])
    assert not w.reach("agent", pg[0], pg_port)
    assert not w.reach("stranger", "broker", 8080)
    if "test" in w.pods:
        assert w.reach("test", "broker", 8080)
        assert w.reach("test", "dns", 53)
        assert not w.reach("test", pg[0], pg_port)


def test_dev_mode_works_in_a_default_deny_namespace() -> None:
    w = world(None, ("tests.enabled=true", "tests.template=t", "tests.environment=staging"))
    assert set(w.pods) >= {"broker", "test"}
    assert not gateway_components(w)  # the gateway runs in the broker's pod
    assert w.reach("broker", "broker", 8080)  # its gateway container fetches the JWKS
    assert w.reach("broker", "dns", 53)
    for client in ("agent", "test"):
        assert w.reach(client, "broker", 8081), client
        assert w.reach(client, "broker", 8080), client
    assert not w.reach("stranger", "broker", 8081)
    assert not w.reach("agent", Address("140.82.112.1"), 443)
    assert not w.reach("broker", Address("140.82.112.1"), 443)
