"""A small, pure evaluator of Kubernetes NetworkPolicies, for checking what rendered policies
allow: "can pod A reach pod B (or address B) on TCP port P?"

It follows the networking.k8s.io/v1 semantics (kubernetes.io/docs/concepts/services-networking/
network-policies): policies are additive allow-lists; a pod selected by no policy of a type
(Ingress, Egress) is unrestricted in that direction; a connection needs the source's egress
and the destination's ingress to allow it. Peers: podSelector (in the policy's namespace),
namespaceSelector (every pod of the matching namespaces), both (matching pods in matching
namespaces), ipBlock (cidr minus except; matches addresses, and for ingress/egress between
pods, pod IPs). Omitted `to`/`from` or `ports` match everything; an empty list matches
nothing. Named ports and endPort are not used by the chart and are refused here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Labels
    ip: str = "10.244.0.1"


@dataclass(frozen=True)
class Address:
    """A destination outside the cluster's pods (PostgreSQL by CIDR, a provider's API)."""

    ip: str


@dataclass
class Cluster:
    policies: list[dict[str, Any]]
    namespace_labels: dict[str, Labels] = field(default_factory=dict)

    def labels_of(self, namespace: str) -> Labels:
        return {
            "kubernetes.io/metadata.name": namespace,
            **self.namespace_labels.get(namespace, {}),
        }

    def can_reach(self, source: Pod, destination: Pod | Address, port: int) -> bool:
        if not self._allows(source, "Egress", destination, port):
            return False
        if isinstance(destination, Address):
            return True
        return self._allows(destination, "Ingress", source, port)

    def _allows(self, pod: Pod, direction: str, peer: Pod | Address, port: int) -> bool:
        selecting = [p for p in self.policies if self._selects(p, pod, direction)]
        if not selecting:
            return True
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in selecting:
            for rule in policy["spec"].get(key) or []:
                if _port_matches(rule, port) and self._peer_matches(policy, rule, peers_key, peer):
                    return True
        return False

    def _selects(self, policy: dict[str, Any], pod: Pod, direction: str) -> bool:
        spec = policy["spec"]
        if policy["metadata"].get("namespace") != pod.namespace:
            return False
        types = spec.get("policyTypes") or (
            ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]
        )
        return direction in types and selector_matches(spec.get("podSelector") or {}, pod.labels)

    def _peer_matches(
        self, policy: dict[str, Any], rule: dict[str, Any], key: str, peer: Pod | Address
    ) -> bool:
        if key not in rule:
            return True
        return any(self._one_peer(policy, p, peer) for p in rule[key] or [])

    def _one_peer(self, policy: dict[str, Any], spec: dict[str, Any], peer: Pod | Address) -> bool:
        if "ipBlock" in spec:
            block = spec["ipBlock"]
            address = ipaddress.ip_address(peer.ip)
            inside = address in ipaddress.ip_network(block["cidr"])
            return inside and not any(
                address in ipaddress.ip_network(e) for e in block.get("except", [])
            )
        if isinstance(peer, Address):
            return False  # selectors match pods only
        if "namespaceSelector" in spec:
            if not selector_matches(spec["namespaceSelector"], self.labels_of(peer.namespace)):
                return False
        elif peer.namespace != policy["metadata"]["namespace"]:
            return False
        return selector_matches(spec.get("podSelector") or {}, peer.labels)


def _port_matches(rule: dict[str, Any], port: int) -> bool:
    if "ports" not in rule:
        return True
    for entry in rule["ports"] or []:
        if "endPort" in entry or not isinstance(entry.get("port", 0), int):
            raise ValueError(f"named ports and endPort are not evaluated: {entry}")
        if entry.get("protocol", "TCP") == "TCP" and entry.get("port", port) == port:
            return True
    return False


def selector_matches(selector: Mapping[str, Any], labels: Labels) -> bool:
    """A LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist);
    the empty selector matches everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, op = expression["key"], expression["operator"]
        values: Iterable[str] = expression.get("values", [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def default_deny(namespace: str) -> dict[str, Any]:
    """What a platform team puts in a namespace first."""
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
