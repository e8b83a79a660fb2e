"""charts/capbroker: lint, Kubernetes schema validation, and every guarantee on the rendered
objects, for each value set in charts/capbroker/ci/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import broker
from broker.secrets.vault.config import ENV_VARIABLES, vault_config_from_env
from broker.settings import load_settings
from tests.chart.chart_support import (
    CHART,
    FULLNAME,
    NAMESPACE,
    RECOMMENDED_LABELS,
    RELEASE,
    VALUE_SETS,
    env_of,
    find,
    helm,
    hook,
    one,
    pod_spec,
    render,
    render_text,
    tool,
    workloads,
)

SETS = sorted(VALUE_SETS)
BROKER, GATEWAY = f"{FULLNAME}-broker", f"{FULLNAME}-gateway"
SELECTOR = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")


def selector(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "capbroker",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": component,
    }


# --- lint and Kubernetes schemas ----------------------------------------------------------


@pytest.mark.parametrize("value_set", SETS)
def test_helm_lint_strict(value_set: str) -> None:
    done = helm("lint", "--strict", str(CHART), "-f", str(VALUE_SETS[value_set]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("value_set", SETS)
def test_render_validates_against_kubernetes_1_30(value_set: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{value_set}.yaml"
    rendered.write_text(render_text(value_set))
    done = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "-k", "1.30.0", "--quiet", str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(render(value_set)) >= 8


def test_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == broker.__version__


def test_templates_are_named_component_kind() -> None:
    names = [p.name for p in (CHART / "templates").glob("*.yaml")]
    assert names
    for name in names:
        assert re.fullmatch(
            r"[a-z]+-(deployment|service|ingress|hpa|pdb|networkpolicy|"
            r"configmap|serviceaccount|job|persistentvolumeclaim|servicemonitor)\.yaml",
            name,
        ), name


# --- hardened pods ----------------------------------------------------------------------


@pytest.mark.parametrize("value_set", SETS)
def test_every_pod_is_hardened(value_set: str) -> None:
    docs = render(value_set)
    seen = 0
    for doc in workloads(docs):
        spec = pod_spec(doc)
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert spec["automountServiceAccountToken"] is False, where
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] > 0, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"], where
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["runAsNonRoot"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert mounts["/tmp"]["name"] == "tmp", where
            assert all(m.get("readOnly") for p, m in mounts.items() if p != "/tmp"), where
            seen += 1
    assert seen >= 3  # broker, gateway, migrations (+ manifests job, test pod)


@pytest.mark.parametrize("value_set", SETS)
def test_replicas_spread_across_nodes(value_set: str) -> None:
    docs = render(value_set)
    for name, component in ((BROKER, "broker"), (GATEWAY, "gateway")):
        spread = pod_spec(one(docs, "Deployment", name))["topologySpreadConstraints"]
        keys = {c["topologyKey"] for c in spread}
        assert "kubernetes.io/hostname" in keys
        assert all(c["labelSelector"]["matchLabels"] == selector(component) for c in spread)


# --- probes, commands, labels -------------------------------------------------------------


@pytest.mark.parametrize("value_set", SETS)
def test_probes_on_the_health_endpoints(value_set: str) -> None:
    docs = render(value_set)
    for name in (BROKER, GATEWAY):
        (container,) = pod_spec(one(docs, "Deployment", name))["containers"]
        port_names = {p["name"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in port_names
        port = container["ports"][0]["containerPort"]
        workers = "2" if (value_set, name) == ("production", GATEWAY) else "1"
        assert container["args"][-4:] == ["--workers", workers, "--port", str(port)]


@pytest.mark.parametrize("value_set", SETS)
def test_recommended_labels_everywhere(value_set: str) -> None:
    docs = render(value_set)
    for doc in docs:
        labels = doc["metadata"]["labels"]
        missing = [k for k in RECOMMENDED_LABELS if k not in labels]
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/version"] == broker.__version__
        assert doc["metadata"]["namespace"] == NAMESPACE
    for doc in workloads(docs):
        template_labels = (
            doc["metadata"]["labels"]
            if doc["kind"] == "Pod"
            else (doc["spec"]["template"]["metadata"]["labels"])
        )
        assert all(k in template_labels for k in RECOMMENDED_LABELS)
    for name in (BROKER, GATEWAY):
        deployment = one(docs, "Deployment", name)
        service = one(docs, "Service", name)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert service["spec"]["ports"][0]["targetPort"] == "http"


# --- hooks --------------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", SETS)
def test_migrations_run_as_a_pre_install_pre_upgrade_hook(value_set: str) -> None:
    docs = render(value_set)
    job = one(docs, "Job", f"{FULLNAME}-migrate")
    events, weight, deletion = hook(job)
    assert events == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in deletion
    (container,) = pod_spec(job)["containers"]
    assert container["command"] + container["args"] == ["capbroker", "migrate"]
    # What the job needs before the release exists is a hook too, created before it.
    account = pod_spec(job)["serviceAccountName"]
    settings = next(v for v in pod_spec(job)["volumes"] if v["name"] == "settings")
    needed = [("ConfigMap", settings["configMap"]["name"]), ("ServiceAccount", account)]
    for kind, name in needed:
        made = find(docs, kind, name)
        if not made:  # an existing object named in values, not the chart's
            assert value_set == "external", (kind, name)
            continue
        assert hook(made[0])[0] == events, (kind, name)
        assert hook(made[0])[1] < weight, (kind, name)
    # The Deployments never wait on a hook-only object.
    for name in (BROKER, GATEWAY):
        assert (
            pod_spec(one(docs, "Deployment", name))["serviceAccountName"] != f"{FULLNAME}-migrate"
        )


def test_manifests_are_applied_after_install_and_upgrade() -> None:
    docs = render("production")
    job = one(docs, "Job", f"{FULLNAME}-manifests")
    assert hook(job)[0] == {"post-install", "post-upgrade"}
    (container,) = pod_spec(job)["containers"]
    assert container["command"] + container["args"][:2] == ["capbroker", "apply", "-f"]
    manifests = one(docs, "ConfigMap", f"{FULLNAME}-manifests")
    assert hook(manifests)[0] == set()  # a release object, there before post-install runs
    assert {"policy-floor.yaml", "staging-agent.yaml"} == set(manifests["data"])
    assert not find(render("minimal"), "Job", f"{FULLNAME}-manifests")  # nothing to apply


def test_helm_test_hook_requests_a_token_and_checks_the_jwks() -> None:
    docs = render("production")
    pod = one(docs, "Pod", f"{FULLNAME}-test")
    script = one(docs, "ConfigMap", f"{FULLNAME}-test")
    assert hook(pod)[0] == {"test"}
    assert hook(script)[0] == {"test"}
    assert hook(script)[1] < hook(pod)[1]
    (container,) = pod["spec"]["containers"]
    env = env_of(container)
    assert env["CAPBROKER_URL"] == f"http://{BROKER}.{NAMESPACE}.svc:8080"
    assert env["CAPBROKER_AGENT_CREDENTIAL"] == {
        "secretKeyRef": {"name": f"{FULLNAME}-test-agent", "key": "credential"}
    }
    assert (env["HELM_TEST_TEMPLATE"], env["HELM_TEST_ENVIRONMENT"]) == ("staging-agent", "staging")
    text = script["data"]["helm-test.py"]
    assert "capbroker" in text
    assert "/.well-known/jwks.json" in text
    assert "EdDSA" in text
    assert not find(render("minimal"), "Pod")  # tests.enabled is false by default


# --- settings, secrets and Vault ----------------------------------------------------------


SECRET_LOOKING = re.compile(
    r"capb_(agt|adm)_|://[^/\s:@]+:[^/\s@]+@|BEGIN [A-Z ]*PRIVATE KEY|\bhvs\.|\bs\.[A-Za-z0-9]{20}"
    r"|secret_id\s*[:=]\s*\S|password\s*[:=]\s*\S",
    re.IGNORECASE,
)
SECRET_NAMES = re.compile(r"(DATABASE_URL|TOKEN|SECRET_ID|ROLE_ID|CREDENTIAL|PASSWORD)$")


@pytest.mark.parametrize("value_set", SETS)
def test_no_secret_value_in_configmaps_or_env(value_set: str) -> None:
    docs = render(value_set)
    for cm in find(docs, "ConfigMap"):
        for key, text in cm.get("data", {}).items():
            assert not SECRET_LOOKING.search(text), f"ConfigMap {cm['metadata']['name']}/{key}"
    assert not find(docs, "Secret"), "the chart references Secrets by name and creates none"
    for doc in workloads(docs):
        for container in pod_spec(doc)["containers"]:
            for name, value in env_of(container).items():
                if SECRET_NAMES.search(name):
                    assert isinstance(value, dict), name
                    assert "secretKeyRef" in value, name


@pytest.mark.parametrize("value_set", ["minimal", "production", "ingress"])
def test_settings_file_is_accepted_by_capbroker(value_set: str, tmp_path: Path) -> None:
    docs = render(value_set)
    text = one(docs, "ConfigMap", f"{FULLNAME}-settings")["data"]["config.yaml"]
    (tmp_path / "config.yaml").write_text(text)
    settings = load_settings(config_file=tmp_path / "config.yaml", environ={})
    assert settings.secret_backend == "vault"
    assert settings.database_url == ""  # from the Secret, never the file
    if value_set == "production":
        assert (settings.signer, settings.transit_mount, settings.transit_key) == (
            "transit",
            "transit",
            "capbroker",
        )
        assert settings.max_token_ttl == 1800
        assert settings.issuer == f"http://{BROKER}.{NAMESPACE}.svc:8080"
    else:
        assert settings.signer == "local"
    # The migrations hook carries the same settings.
    assert one(docs, "ConfigMap", f"{FULLNAME}-migrate")["data"]["config.yaml"] == text


@pytest.mark.parametrize("value_set", SETS)
def test_vault_environment_is_what_capbroker_reads(value_set: str) -> None:
    known = {v for names in ENV_VARIABLES.values() for v in names}
    for doc in workloads(render(value_set)):
        if doc["kind"] == "Pod":
            continue
        (container,) = pod_spec(doc)["containers"]
        env = env_of(container)
        vault_vars = {k for k in env if k.startswith("CAPBROKER_VAULT_")}
        assert vault_vars <= known, vault_vars - known
        plain = {k: v for k, v in env.items() if isinstance(v, str)}
        config = vault_config_from_env(plain)
        assert config.addr.startswith("http")
        mounted = {m["mountPath"] for m in container["volumeMounts"]}
        for name, value in plain.items():
            if name.endswith(("_FILE", "_CACERT")) or name == "CAPBROKER_CONFIG":
                assert str(Path(value).parent) in mounted, (name, value)


def test_vault_kubernetes_auth_uses_a_projected_token_with_the_audience() -> None:
    docs = render("production")
    for name, role in ((BROKER, "capbroker"), (GATEWAY, "capbroker-gateway")):
        spec = pod_spec(one(docs, "Deployment", name))
        assert spec["serviceAccountName"] == FULLNAME
        (container,) = spec["containers"]
        env = env_of(container)
        assert env["CAPBROKER_VAULT_AUTH"] == "kubernetes"
        assert env["CAPBROKER_VAULT_KUBERNETES_ROLE"] == role
        volume = next(v for v in spec["volumes"] if v["name"] == "vault-token")
        (source,) = volume["projected"]["sources"]
        assert source["serviceAccountToken"] == {
            "path": "token",
            "audience": "vault",
            "expirationSeconds": 900,
        }
        mount = next(m for m in container["volumeMounts"] if m["name"] == "vault-token")
        assert env["CAPBROKER_VAULT_KUBERNETES_JWT_FILE"] == f"{mount['mountPath']}/token"
    account = one(docs, "ServiceAccount", FULLNAME)
    assert account["automountServiceAccountToken"] is False


def test_vault_approle_comes_from_a_secret() -> None:
    spec = pod_spec(one(render("ingress"), "Deployment", BROKER))
    (container,) = spec["containers"]
    env = env_of(container)
    assert env["CAPBROKER_VAULT_AUTH"] == "approle"
    volume = next(v for v in spec["volumes"] if v["name"] == "vault-approle")
    assert volume["secret"]["secretName"] == "capbroker-approle"
    assert {i["path"] for i in volume["secret"]["items"]} == {"role_id", "secret_id"}
    assert env["CAPBROKER_VAULT_ROLE_ID_FILE"].endswith("/role_id")
    assert "vault-token" not in {v["name"] for v in spec["volumes"]}


# --- NetworkPolicy ------------------------------------------------------------------------


def _peers(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return rule.get("to", rule.get("from", []))


def _ports(rule: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p["protocol"], p["port"]) for p in rule["ports"]}


def test_network_policies() -> None:
    docs = render("production")
    dns = {("UDP", 53), ("TCP", 53)}
    pg = [{"ipBlock": {"cidr": "10.20.0.0/24"}}]
    vault = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "vault"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "vault"}},
        }
    ]
    agents = {
        "namespaceSelector": {"matchLabels": {}},
        "podSelector": {"matchLabels": {"capbroker.dev/agent": "true"}},
    }

    # Every pod serving a gateway of the release (one Deployment or several) carries these.
    gateways = {
        "app.kubernetes.io/name": "capbroker",
        "app.kubernetes.io/instance": RELEASE,
        "capbroker.dev/gateway": "true",
    }
    in_release_namespace = {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}

    broker_np = one(docs, "NetworkPolicy", BROKER)["spec"]
    assert broker_np["podSelector"]["matchLabels"] == selector("broker")
    assert broker_np["policyTypes"] == ["Ingress", "Egress"]
    # The broker reaches DNS, PostgreSQL and Vault, nothing else.
    egress = broker_np["egress"]
    assert [_ports(r) for r in egress] == [dns, {("TCP", 5432)}, {("TCP", 8200)}]
    assert _peers(egress[1]) == pg
    assert _peers(egress[2]) == vault
    (ingress,) = broker_np["ingress"]
    assert _ports(ingress) == {("TCP", 8080)}
    assert {"podSelector": {"matchLabels": gateways}} in ingress["from"]
    assert agents in ingress["from"]

    gateway_np = one(docs, "NetworkPolicy", GATEWAY)["spec"]
    (ingress,) = gateway_np["ingress"]
    assert _ports(ingress) == {("TCP", 8081)}
    assert ingress["from"] == [{"podSelector": {"matchLabels": selector("test")}}, agents]
    egress = gateway_np["egress"]
    assert [_ports(r) for r in egress[:3]] == [dns, {("TCP", 5432)}, {("TCP", 8200)}]
    assert _peers(egress[3]) == [{"podSelector": {"matchLabels": selector("broker")}}]
    assert _ports(egress[3]) == {("TCP", 8080)}
    # The providers' hosts: exactly the CIDRs and ports of the values.
    assert [(_peers(r), _ports(r)) for r in egress[4:]] == [
        ([{"ipBlock": {"cidr": "203.0.113.0/24"}}], {("TCP", 443)}),
        (
            [{"ipBlock": {"cidr": "198.51.100.0/24", "except": ["198.51.100.128/25"]}}],
            {("TCP", 443), ("TCP", 8443)},
        ),
    ]
    for np in find(docs, "NetworkPolicy"):
        for rule in np["spec"].get("egress", []):
            assert all(p.get("ipBlock", {}).get("cidr") != "0.0.0.0/0" for p in _peers(rule))
            assert _peers(rule), "an egress rule without peers would allow every destination"

    # Agents in the namespace may reach only the gateway, the broker (tokens) and DNS.
    agents_np = one(docs, "NetworkPolicy", f"{FULLNAME}-agents")["spec"]
    assert agents_np["policyTypes"] == ["Egress"]
    assert agents_np["podSelector"] == {"matchLabels": {"capbroker.dev/agent": "true"}}
    assert [(_peers(r), _ports(r)) for r in agents_np["egress"][1:]] == [
        (
            [{"namespaceSelector": in_release_namespace, "podSelector": {"matchLabels": gateways}}],
            {("TCP", 8081)},
        ),
        (
            [
                {
                    "namespaceSelector": in_release_namespace,
                    "podSelector": {"matchLabels": selector("broker")},
                }
            ],
            {("TCP", 8080)},
        ),
    ]
    assert _ports(agents_np["egress"][0]) == dns

    # Each job's policy is a hook created before the job (lower weight), so the job reaches
    # PostgreSQL in a default-deny namespace at first install.
    for component, job in (("migrate", "migrate"), ("manifests", "manifests")):
        policy = one(docs, "NetworkPolicy", f"{FULLNAME}-{component}")
        job_hooks, job_weight, _ = hook(one(docs, "Job", f"{FULLNAME}-{job}"))
        hooks, weight, deletion = hook(policy)
        assert hooks == job_hooks, component
        assert weight < job_weight, component
        assert deletion == {"before-hook-creation", "hook-succeeded"}
        spec = policy["spec"]
        assert spec["ingress"] == []
        assert spec["podSelector"] == {"matchLabels": selector(component)}
        assert [_ports(r) for r in spec["egress"]] == [dns, {("TCP", 5432)}, {("TCP", 8200)}]


def test_network_policy_can_be_left_to_the_operator() -> None:
    assert not find(render("external"), "NetworkPolicy")


# --- scaling, ingress, external ConfigMaps --------------------------------------------------


def test_autoscaling_and_disruption_budgets() -> None:
    docs = render("production")
    for name, low, high in ((BROKER, 3, 8), (GATEWAY, 3, 20)):
        assert "replicas" not in one(docs, "Deployment", name)["spec"]
        hpa = one(docs, "HorizontalPodAutoscaler", name)["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (low, high)
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        pdb = one(docs, "PodDisruptionBudget", name)["spec"]
        assert pdb["maxUnavailable"] == 1
    minimal = render("minimal")
    assert one(minimal, "Deployment", BROKER)["spec"]["replicas"] == 2
    assert not find(minimal, "HorizontalPodAutoscaler")


def test_ingress_per_component() -> None:
    docs = render("ingress")
    for name, host in (
        (BROKER, "capbroker.example.com"),
        (GATEWAY, "gateway.capbroker.example.com"),
    ):
        spec = one(docs, "Ingress", name)["spec"]
        assert spec["ingressClassName"] == "nginx"
        (rule,) = spec["rules"]
        assert rule["host"] == host
        (path,) = rule["http"]["paths"]
        assert path["backend"]["service"] == {"name": name, "port": {"name": "http"}}
        assert spec["tls"][0]["hosts"] == [host]
    assert not find(render("minimal"), "Ingress")


def test_external_configmaps_and_service_account() -> None:
    docs = render("external")
    assert not find(docs, "ConfigMap")
    assert not find(docs, "ServiceAccount")
    broker_spec = pod_spec(one(docs, "Deployment", BROKER))
    gateway_spec = pod_spec(one(docs, "Deployment", GATEWAY))
    migrate_spec = pod_spec(one(docs, "Job", f"{FULLNAME}-migrate"))
    apply_spec = pod_spec(one(docs, "Job", f"{FULLNAME}-manifests"))
    for spec in (broker_spec, gateway_spec, migrate_spec, apply_spec):
        assert spec["serviceAccountName"] == "capbroker-existing"
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["settings"]["configMap"]["name"] == "capbroker-settings-gitops"
    assert {v["name"]: v for v in gateway_spec["volumes"]}["providers"]["configMap"][
        "name"
    ] == "capbroker-providers-gitops"
    assert {v["name"]: v for v in apply_spec["volumes"]}["manifests"]["configMap"][
        "name"
    ] == "capbroker-manifests-gitops"
    env = env_of(broker_spec["containers"][0])
    assert env["CAPBROKER_VAULT_AUTH"] == "token"
    assert env["CAPBROKER_VAULT_TOKEN_FILE"] == "/var/run/secrets/capbroker/vault-token/token"


def test_settings_change_rolls_the_pods() -> None:
    def checksum(*sets: str) -> str:
        deployment = one(render("minimal", sets), "Deployment", BROKER)
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/settings"]

    assert checksum() != checksum("settings.leeway=10")


def test_image_defaults_to_the_app_version() -> None:
    (container,) = pod_spec(one(render("minimal"), "Deployment", BROKER))["containers"]
    assert container["image"] == f"ghcr.io/capbroker/capbroker:{broker.__version__}"
    (container,) = pod_spec(one(render("production"), "Deployment", BROKER))["containers"]
    assert container["image"].startswith("registry.example.com/capbroker/capbroker@sha256:")


def test_bootstrap_admin_comes_from_a_secret_file_when_named() -> None:
    docs = render("minimal", ("broker.bootstrapAdmin.existingSecret=capbroker-admin",))
    broker = next(d for d in find(docs, "Deployment") if d["metadata"]["name"].endswith("broker"))
    spec = pod_spec(broker)
    (container,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (
        env["CAPBROKER_BOOTSTRAP_ADMIN_FILE"] == "/var/run/secrets/capbroker/bootstrap/credential"
    )
    volume = next(v for v in spec["volumes"] if v["name"] == "bootstrap-admin")
    assert volume["secret"]["secretName"] == "capbroker-admin"
    assert volume["secret"]["items"] == [{"key": "credential", "path": "credential"}]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "bootstrap-admin")
    assert mount["readOnly"] is True
    # without it nothing is mounted and the first pod prints a generated credential
    plain = next(
        d for d in find(render("minimal"), "Deployment") if d["metadata"]["name"].endswith("broker")
    )
    assert "bootstrap-admin" not in {v["name"] for v in pod_spec(plain)["volumes"]}
