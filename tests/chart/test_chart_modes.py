"""Dev mode (the defaults), several gateways, gateways only, and each escape hatch: what the
chart renders for them, validated against the Kubernetes schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.settings import load_settings
from tests.chart.chart_support import (
    CHART,
    FULLNAME,
    NAMESPACE,
    RELEASE,
    env_of,
    find,
    helm,
    one,
    pod_spec,
    render,
    render_failure,
    render_text,
    validate_strict,
)

BROKER = f"{FULLNAME}-broker"


def validates(text: str, tmp_path: Path) -> None:
    validate_strict(text, tmp_path)


def containers(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod_spec(doc)["containers"]}


# --- dev mode ---------------------------------------------------------------------------


def test_no_values_render_a_valid_dev_install(tmp_path: Path) -> None:
    validates(render_text(None), tmp_path)
    docs = render(None)
    assert not find(docs, "Job")
    (deployment,) = find(docs, "Deployment")
    assert deployment["metadata"]["name"] == BROKER
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    spec = pod_spec(deployment)
    assert [c["name"] for c in spec["initContainers"]] == ["migrate", "demo-key"]
    assert list(containers(deployment)) == ["broker", "gateway", "demo-provider"]
    claim = one(docs, "PersistentVolumeClaim", f"{FULLNAME}-data")
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == f"{FULLNAME}-data"
    for container in [*spec["initContainers"], *spec["containers"]]:
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/var/lib/capbroker"]["name"] == "data", container["name"]
        env = env_of(container)
        assert not [k for k in env if k.startswith(("CAPBROKER_VAULT", "CAPBROKER_DATABASE"))]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The demo provider reads its key; only the init container that makes it may write.
    provider = containers(deployment)["demo-provider"]
    assert {m["mountPath"]: m.get("readOnly") for m in provider["volumeMounts"]}[
        "/var/lib/capbroker"
    ]
    settings = one(docs, "ConfigMap", f"{FULLNAME}-settings")["data"]["config.yaml"]
    assert "secret_backend: local" in settings
    assert "data_dir: /var/lib/capbroker" in settings
    providers = one(docs, "ConfigMap", f"{FULLNAME}-providers")["data"]["providers.yaml"]
    assert "upstream: http://127.0.0.1:8090" in providers
    gateway_service = one(docs, "Service", f"{FULLNAME}-gateway")["spec"]
    assert gateway_service["selector"]["app.kubernetes.io/component"] == "broker"
    assert gateway_service["ports"][0]["targetPort"] == "gateway"


def test_dev_mode_without_the_demo_provider_needs_a_provider() -> None:
    docs = render(None, ("dev.demoProvider=false", "gateway.providers[0].name=github",
                         "gateway.providers[0].route_map=github"))  # fmt: skip
    assert list(containers(one(docs, "Deployment", BROKER))) == ["broker", "gateway"]
    message = render_failure(None, "dev.demoProvider=false")
    assert "gateway.providers is required when dev.demoProvider is false" in message


def test_dev_mode_refuses_what_needs_production() -> None:
    message = render_failure(None, "broker.enabled=false", "gateways[0].name=x")
    assert "2 value(s) to set or fix (mode dev)" in message
    assert "gateways: several gateways need mode=production" in message
    assert "broker.enabled=false needs mode=production" in message


def notes(*sets: str) -> str:
    args = ["install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("NOTES:", 1)[1]


def test_notes_say_where_the_admin_credential_is_and_how_to_run_the_demo() -> None:
    dev = notes()
    assert f"logs deploy/{BROKER} -c broker | grep -A1 'Bootstrap admin'" in dev
    assert f"exec deploy/{BROKER} -c broker -- capbroker demo" in dev
    supplied = notes("broker.bootstrapAdmin.existingSecret=admin", "broker.bootstrapAdmin.key=k")
    assert "get secret admin -o jsonpath='{.data.k}' | base64 -d" in supplied
    assert "Bootstrap admin" not in supplied
    production = notes(*(f"{k}={v}" for k, v in PRODUCTION.items()))
    # Every replica's log, not one of them.
    assert "-l app.kubernetes.io/instance=rel,app.kubernetes.io/component=broker" in production
    assert "--prefix --tail=-1" in production
    assert "capbroker demo" not in production


PRODUCTION = {
    "mode": "production",
    "database.existingSecret": "db",
    "vault.address": "https://vault:8200",
    "gateway.providers[0].name": "github",
    "gateway.providers[0].route_map": "github",
    "networkPolicy.postgresql.to[0].cidr": "10.0.0.0/24",
    "networkPolicy.vault.to[0].cidr": "10.0.1.0/24",
    "networkPolicy.providers[0].cidr": "140.82.112.0/20",
    "networkPolicy.providers[0].ports[0]": "443",
}


def production(*extra: str) -> list[dict[str, Any]]:
    return render(None, (*(f"{k}={v}" for k, v in PRODUCTION.items()), *extra))


# --- several gateways, gateways only -------------------------------------------------------


def test_several_gateways_each_with_its_providers_and_scaling(tmp_path: Path) -> None:
    sets = (
        "gateways[0].name=github",
        "gateways[0].providers[0].name=github",
        "gateways[0].providers[0].route_map=github",
        "gateways[0].autoscaling.enabled=true",
        "gateways[0].autoscaling.maxReplicas=9",
        "gateways[1].name=railway",
        "gateways[1].replicas=3",
        "gateways[1].providers[0].name=railway",
        "gateways[1].providers[0].route_map=railway",
    )
    args = [f"{k}={v}" for k, v in PRODUCTION.items() if not k.startswith("gateway.")]
    validates(render_text(None, (*args, *sets)), tmp_path)
    docs = render(None, (*args, *sets))
    names = {d["metadata"]["name"] for d in find(docs, "Deployment")}
    assert names == {BROKER, f"{FULLNAME}-gateway-github", f"{FULLNAME}-gateway-railway"}
    github = one(docs, "Deployment", f"{FULLNAME}-gateway-github")
    railway = one(docs, "Deployment", f"{FULLNAME}-gateway-railway")
    assert "replicas" not in github["spec"]  # its HPA decides
    assert railway["spec"]["replicas"] == 3
    assert (
        one(docs, "HorizontalPodAutoscaler", f"{FULLNAME}-gateway-github")["spec"]["maxReplicas"]
        == 9
    )
    assert not find(docs, "HorizontalPodAutoscaler", f"{FULLNAME}-gateway-railway")
    for name, provider in (("github", "github"), ("railway", "railway")):
        cm = one(docs, "ConfigMap", f"{FULLNAME}-gateway-{name}-providers")
        assert f"name: {provider}" in cm["data"]["providers.yaml"]
        service = one(docs, "Service", f"{FULLNAME}-gateway-{name}")
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == f"gateway-{name}"
        assert one(docs, "PodDisruptionBudget", f"{FULLNAME}-gateway-{name}")
    assert (
        "name: railway"
        not in one(docs, "ConfigMap", f"{FULLNAME}-gateway-github-providers")["data"][
            "providers.yaml"
        ]
    )
    assert not find(docs, "Deployment", f"{FULLNAME}-gateway")
    message = render_failure(None, *args, "gateways[0].name=a", "gateways[1].name=a")
    assert "gateways: the name a is used twice" in message
    assert "gateways[a].providers is required" in message


def test_gateways_only_release_uses_another_releases_broker() -> None:
    sets = ("broker.enabled=false", "settings.issuer=https://broker.example",
            "networkPolicy.issuer.to[0].cidr=10.9.0.0/24")  # fmt: skip
    docs = production(*sets)
    assert {d["metadata"]["name"] for d in find(docs, "Deployment")} == {f"{FULLNAME}-gateway"}
    assert not find(docs, "Job")
    assert not find(docs, "Service", BROKER)
    gateway_np = one(docs, "NetworkPolicy", f"{FULLNAME}-gateway")["spec"]
    assert {"ipBlock": {"cidr": "10.9.0.0/24"}} in [
        p for r in gateway_np["egress"] for p in r["to"]
    ]
    message = render_failure(None, *(f"{k}={v}" for k, v in PRODUCTION.items()),
                             "broker.enabled=false")  # fmt: skip
    assert "settings.issuer is required with broker.enabled=false" in message


# --- escape hatches -----------------------------------------------------------------------


def test_escape_hatches_reach_the_pods(tmp_path: Path) -> None:
    sets = []
    for c in ("broker", "gateway"):
        sets += [
            f"{c}.extraEnv[0].name=EXTRA_{c.upper()}",
            f"{c}.extraEnv[0].value=yes-{c}",
            f"{c}.extraVolumes[0].name=extra",
            f"{c}.extraVolumes[0].emptyDir.sizeLimit=1Mi",
            f"{c}.extraVolumeMounts[0].name=extra",
            f"{c}.extraVolumeMounts[0].mountPath=/extra",
            f"{c}.extraVolumeMounts[0].readOnly=true",
            f"{c}.initContainers[0].name=wait-{c}",
            f"{c}.initContainers[0].image=busybox",
            f"{c}.sidecars[0].name=agent-{c}",
            f"{c}.sidecars[0].image=busybox",
            f"{c}.podAnnotations.example\\.com/team=platform",
            f"{c}.resources.limits.ephemeral-storage=1Gi",
            f"{c}.resources.requests.ephemeral-storage=100Mi",
        ]
    sets += [
        "gateway.providersCaBundle.configMapName=corp-ca",
        "settings.approvalWebhook.url=https://approvals.example/hook",
        "settings.approvalWebhook.existingSecret=webhook",
        "networkPolicy.approvalWebhook.to[0].cidr=10.7.0.0/24",
        "database.poolSize=3",
        "database.maxOverflow=2",
    ]
    args = (*(f"{k}={v}" for k, v in PRODUCTION.items()), *sets)
    validates(render_text(None, args), tmp_path)
    docs = render(None, args)
    for c in ("broker", "gateway"):
        deployment = one(docs, "Deployment", f"{FULLNAME}-{c}")
        spec = pod_spec(deployment)
        main = containers(deployment)[c]
        assert env_of(main)[f"EXTRA_{c.upper()}"] == f"yes-{c}"
        assert {"name": "extra", "mountPath": "/extra", "readOnly": True} in main["volumeMounts"]
        assert {"name": "extra", "emptyDir": {"sizeLimit": "1Mi"}} in spec["volumes"]
        assert [i["name"] for i in spec["initContainers"]] == [f"wait-{c}"]
        assert f"agent-{c}" in containers(deployment)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["example.com/team"] == "platform"
        assert main["resources"]["limits"]["ephemeral-storage"] == "1Gi"
    gateway = containers(one(docs, "Deployment", f"{FULLNAME}-gateway"))["gateway"]
    assert env_of(gateway)["SSL_CERT_FILE"] == "/etc/capbroker/providers-ca/ca.crt"
    volumes = {
        v["name"]: v for v in pod_spec(one(docs, "Deployment", f"{FULLNAME}-gateway"))["volumes"]
    }
    assert volumes["providers-ca"]["configMap"]["name"] == "corp-ca"
    assert env_of(gateway)["CAPBROKER_APPROVAL_WEBHOOK_SECRET_FILE"].endswith("/hmac-key")
    assert volumes["approval-webhook"]["secret"]["secretName"] == "webhook"
    settings = one(docs, "ConfigMap", f"{FULLNAME}-settings")["data"]["config.yaml"]
    assert 'approval_webhook_url: "https://approvals.example/hook"' in settings
    assert "database_pool_size: 3" in settings
    assert "database_max_overflow: 2" in settings
    gateway_np = one(docs, "NetworkPolicy", f"{FULLNAME}-gateway")["spec"]
    assert {"ipBlock": {"cidr": "10.7.0.0/24"}} in [
        p for r in gateway_np["egress"] for p in r["to"]
    ]


BAD_HATCHES = [
    (
        ("broker.podDisruptionBudget.maxUnavailable=0",),
        "/broker/podDisruptionBudget/maxUnavailable",
    ),
    (("gateway.podDisruptionBudget.maxUnavailable=0%",), "/gateway/podDisruptionBudget"),
    (("global.x=1",), "additional properties 'global' not allowed"),
    (("broker.extraEnv[0].value=1",), "missing property 'name'"),
    (
        ("settings.approvalWebhook.url=https://a.example",),
        "settings.approvalWebhook.existingSecret is required",
    ),
    (
        ("gateway.providersCaBundle.secretName=a", "gateway.providersCaBundle.configMapName=b"),
        "set secretName or configMapName, not both",
    ),
    (("database.poolSize=0",), "/database/poolSize"),
]


@pytest.mark.parametrize(("sets", "message"), BAD_HATCHES, ids=lambda v: str(v)[:50])
def test_bad_hatch_values_are_refused(sets: tuple[str, ...], message: str) -> None:
    assert message in render_failure(None, *(f"{k}={v}" for k, v in PRODUCTION.items()), *sets)


def test_pdb_of_one_or_a_percentage_is_accepted() -> None:
    docs = production("gateway.podDisruptionBudget.maxUnavailable=50%")
    assert (
        one(docs, "PodDisruptionBudget", f"{FULLNAME}-gateway")["spec"]["maxUnavailable"] == "50%"
    )


# --- metrics: ports, ServiceMonitors, the dashboard ----------------------------------------

# The series broker/metrics serves (helper "ops"); the dashboard may query only these.
SERIES = {
    "capbroker_gateway_decisions_total",
    "capbroker_gateway_upstream_responses_total",
    "capbroker_gateway_upstream_seconds_bucket",
    "capbroker_gateway_overhead_seconds_bucket",
    "capbroker_gateway_lookups_total",
    "capbroker_gateway_revocations_age_seconds",
    "capbroker_issuances_total",
    "capbroker_issuance_refusals_total",
    "capbroker_audit_commit_seconds_bucket",
    "capbroker_approvals_pending",
}
METRICS = (
    "metrics.enabled=true",
    "metrics.serviceMonitor.enabled=true",
    "metrics.serviceMonitor.labels.release=prometheus",
    "metrics.dashboard.enabled=true",
    "networkPolicy.metrics.from[0].namespaceSelector.kubernetes\\.io/metadata\\.name=monitoring",
)


def test_metrics_ports_service_monitors_and_the_dashboard(tmp_path: Path) -> None:
    args = (*(f"{k}={v}" for k, v in PRODUCTION.items()), *METRICS)
    docs = render(None, args)
    without_crds = [d for d in docs if d["kind"] != "ServiceMonitor"]
    validates(yaml.safe_dump_all(without_crds), tmp_path)
    settings = one(docs, "ConfigMap", f"{FULLNAME}-settings")["data"]["config.yaml"]
    assert "metrics_port: 9090" in settings
    assert "metrics_host: 0.0.0.0" in settings
    for component in ("broker", "gateway"):
        name = f"{FULLNAME}-{component}"
        (main,) = pod_spec(one(docs, "Deployment", name))["containers"]
        assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in main["ports"]
        ports = one(docs, "Service", name)["spec"]["ports"]
        assert {
            "name": "metrics",
            "port": 9090,
            "targetPort": "metrics",
            "protocol": "TCP",
        } in ports
        monitor = one(docs, "ServiceMonitor", name)
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        assert monitor["spec"]["endpoints"] == [
            {"port": "metrics", "path": "/metrics", "interval": "30s"}
        ]
        assert (
            monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
        )
        ingress = one(docs, "NetworkPolicy", name)["spec"]["ingress"]
        scrape = [r for r in ingress if {"protocol": "TCP", "port": 9090} in r["ports"]]
        assert scrape == [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 9090}],
            }
        ]
    dashboard = json.loads(
        one(docs, "ConfigMap", f"{FULLNAME}-dashboard")["data"]["capbroker.json"]
    )
    assert (
        one(docs, "ConfigMap", f"{FULLNAME}-dashboard")["metadata"]["labels"]["grafana_dashboard"]
        == "1"
    )
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"capbroker_[a-z_]+", target["expr"])
    }
    assert queried
    assert queried <= SERIES, queried - SERIES
    # Off by default: no port, no monitor, no dashboard.
    plain = production()
    assert not find(plain, "ServiceMonitor")
    assert (
        "metrics_port" not in one(plain, "ConfigMap", f"{FULLNAME}-settings")["data"]["config.yaml"]
    )


def test_metrics_need_one_process_per_pod_and_production() -> None:
    message = render_failure(None, *(f"{k}={v}" for k, v in PRODUCTION.items()), *METRICS,
                             "gateway.workers=2")  # fmt: skip
    assert "metrics.enabled needs gateway.workers=1" in message
    assert "metrics.enabled needs mode=production" in render_failure(None, "metrics.enabled=true")


def _gateway_env(deployment: dict[str, Any]) -> dict[str, str]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    gateway = next(c for c in containers if c["name"] == "gateway")
    return {e["name"]: e.get("value", "") for e in gateway.get("env", [])}


def test_each_gateway_gets_its_public_url_for_dpop(tmp_path: Path) -> None:
    """``publicUrl`` (gateway_public_url: what DPoP proofs name behind an Ingress) per
    gateway, the shared default for entries without one, and the broker's own settings
    check accepts what is rendered."""
    sets = (
        "gateway.publicUrl=https://gateways.example.com",
        "gateways[0].name=github",
        "gateways[0].providers[0].name=github",
        "gateways[0].providers[0].route_map=github",
        "gateways[0].publicUrl=https://github-gw.example.com/capbroker",
        "gateways[1].name=railway",
        "gateways[1].providers[0].name=railway",
        "gateways[1].providers[0].route_map=railway",
    )
    args = [f"{k}={v}" for k, v in PRODUCTION.items() if not k.startswith("gateway.")]
    docs = render(None, (*args, *sets))
    github = _gateway_env(one(docs, "Deployment", f"{FULLNAME}-gateway-github"))
    railway = _gateway_env(one(docs, "Deployment", f"{FULLNAME}-gateway-railway"))
    assert github["CAPBROKER_GATEWAY_PUBLIC_URL"] == "https://github-gw.example.com/capbroker"
    assert railway["CAPBROKER_GATEWAY_PUBLIC_URL"] == "https://gateways.example.com"
    config = tmp_path / "config.yaml"
    config.write_text("{}\n")
    for env in (github, railway):
        url = env["CAPBROKER_GATEWAY_PUBLIC_URL"]
        settings = load_settings(
            config_file=config,
            environ={"CAPBROKER_GATEWAY_PUBLIC_URL": url, "CAPBROKER_DATA_DIR": str(tmp_path)},
        )
        assert settings.gateway_public_url == url


def test_without_a_public_url_no_variable_is_set() -> None:
    docs = production()
    deployment = one(docs, "Deployment", f"{FULLNAME}-gateway")
    assert "CAPBROKER_GATEWAY_PUBLIC_URL" not in _gateway_env(deployment)
