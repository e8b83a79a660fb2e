"""workloadIdentity: the trusted issuers ConfigMap, its mount and env var, its egress, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from broker.identity.issuers import load_issuers, parse_issuers
from tests.chart.chart_support import (
    FULLNAME,
    NAMESPACE,
    find,
    one,
    pod_spec,
    render,
    render_failure,
)
from tests.chart.netpol import Address, Cluster, Pod

API_SERVER = "10.96.0.1"
K8S = (
    "workloadIdentity.enabled=true",
    "workloadIdentity.kubernetes.enabled=true",
    f"networkPolicy.workloadIdentity.to[0].cidr={API_SERVER}/32",
)
GITHUB = (
    "workloadIdentity.enabled=true",
    "workloadIdentity.trustedIssuers[0].apiVersion=capbroker.dev/v1",
    "workloadIdentity.trustedIssuers[0].kind=TrustedIssuer",
    "workloadIdentity.trustedIssuers[0].metadata.name=github-actions",
    "workloadIdentity.trustedIssuers[0].spec.issuer=https://token.actions.githubusercontent.com",
    "workloadIdentity.trustedIssuers[0].spec.jwksUri=https://token.actions.githubusercontent.com/.well-known/jwks",
    "workloadIdentity.trustedIssuers[0].spec.audiences[0]=capbroker",
    "workloadIdentity.trustedIssuers[0].spec.algorithms[0]=RS256",
    "workloadIdentity.trustedIssuers[0].spec.agents[0].name=ci.{repo}",
    "workloadIdentity.trustedIssuers[0].spec.agents[0].match.repository=acme/{repo}",
)
CONFIGMAP = f"{FULLNAME}-trusted-issuers"


def broker(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment", f"{FULLNAME}-broker")


def issuers_text(docs: list[dict[str, Any]]) -> str:
    return str(one(docs, "ConfigMap", CONFIGMAP)["data"]["trusted-issuers.yaml"])


def test_disabled_by_default() -> None:
    for value_set in ("minimal", "production"):
        docs = render(value_set)
        assert not [d for d in find(docs, "ConfigMap") if d["metadata"]["name"] == CONFIGMAP]
        spec = pod_spec(broker(docs))
        container = spec["containers"][0]
        assert "CAPBROKER_TRUSTED_ISSUERS_FILE" not in {e["name"] for e in container["env"]}
        assert "trusted-issuers" not in {v["name"] for v in spec["volumes"]}


def test_in_cluster_issuer_parses_with_the_brokers_parser(tmp_path: Path) -> None:
    path = tmp_path / "trusted-issuers.yaml"
    path.write_text(issuers_text(render("production", K8S)))
    (cluster,) = load_issuers(path)
    assert cluster.name == "cluster"
    assert cluster.issuer == "https://kubernetes.default.svc.cluster.local"
    assert cluster.jwks_uri == "https://kubernetes.default.svc.cluster.local/openid/v1/jwks"
    assert cluster.audiences == ("capbroker",)
    assert cluster.algorithms == ("RS256",)
    assert cluster.single_use is False
    assert len(cluster.agents) == 1


def test_listed_issuers_and_the_in_cluster_one_together() -> None:
    text = issuers_text(render("minimal", GITHUB + K8S[1:]))
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    found = parse_issuers(docs, source="rendered")
    assert [t.name for t in found] == ["github-actions", "cluster"]


def test_env_var_and_read_only_mount() -> None:
    docs = render("production", K8S)
    spec = pod_spec(broker(docs))
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = env["CAPBROKER_TRUSTED_ISSUERS_FILE"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "trusted-issuers")
    assert mount["readOnly"] is True
    assert path == f"{mount['mountPath']}/trusted-issuers.yaml"
    volume = next(v for v in spec["volumes"] if v["name"] == "trusted-issuers")
    assert volume["configMap"]["name"] == CONFIGMAP
    assert volume["configMap"]["items"] == [
        {"key": "trusted-issuers.yaml", "path": "trusted-issuers.yaml"}
    ]


def test_enabled_without_issuers_is_refused() -> None:
    for value_set in ("production", "minimal"):
        message = render_failure(value_set, "workloadIdentity.enabled=true")
        assert "workloadIdentity.trustedIssuers (or workloadIdentity.kubernetes.enabled)" in message


def test_jwks_egress_needs_its_peers() -> None:
    message = render_failure(
        "production", "workloadIdentity.enabled=true", "workloadIdentity.kubernetes.enabled=true"
    )
    assert "networkPolicy.workloadIdentity.to is required" in message


def test_broker_reaches_the_jwks_only_when_enabled() -> None:
    def reaches(sets: tuple[str, ...]) -> bool:
        docs = render("production", sets)
        labels = broker(docs)["spec"]["template"]["metadata"]["labels"]
        cluster = Cluster(find(docs, "NetworkPolicy"))
        return cluster.can_reach(Pod(NAMESPACE, labels), Address(API_SERVER), 443)

    assert reaches(K8S)
    assert not reaches(K8S[2:])  # the peers alone open nothing
