"""The chart's rendered command lines and environment start the real processes.

For a value set, each rendered container (migrations job, manifests job, broker, gateway,
helm test pod) is run locally as Kubernetes would run it: its env as rendered (Secret
references filled from the Secrets this test plays), its ConfigMap volumes written in the
kubelet's layout (`..<timestamp>/`, `..data`, one symlink per key), the projected
service-account token and Secret volumes written as files. Only mount paths (moved under a
temp dir), ports (free ones), the in-cluster Service and Vault addresses (127.0.0.1) and
the database URL (the Secret's value) are rewritten. Vault is a real OpenBao server with
the Kubernetes auth method (TokenReview answered by a small local endpoint) and Transit.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
import yaml

from broker.demo.world import FLOOR, TEMPLATE
from broker.secrets.vault.policy import transit_policy, vault_policy
from tests.chart.chart_support import FULLNAME, NAMESPACE, one, pod_spec, render
from tests.support.oidc_issuer import LocalIssuer
from tests.support.openbao import OpenBaoServer, answer_token_review, any_ca_pem
from tests.support.servers import ServerNotReady, ServerProcess, free_port, http_ready

pytest_plugins = ["tests.support.openbao"]
pytestmark = pytest.mark.slow

READY_WITHIN_S = 90.0
K8S_UID = str(uuid.UUID(int=7))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_jwt(account: str) -> str:
    """A projected-token-shaped JWT; Vault asks TokenReview (below) whether it is genuine."""
    now = int(time.time())
    claims = {
        "aud": ["vault"],
        "exp": now + 3600,
        "iat": now - 60,
        "iss": "https://kubernetes.default.svc",
        "sub": f"system:serviceaccount:{NAMESPACE}:{account}",
        "kubernetes.io": {
            "namespace": NAMESPACE,
            "serviceaccount": {"name": account, "uid": K8S_UID},
        },
    }
    parts = [json.dumps({"alg": "RS256", "kid": "t"}).encode(), json.dumps(claims).encode()]
    return ".".join(_b64url(p) for p in parts) + "." + _b64url(secrets.token_bytes(64))


class _TokenReview(BaseHTTPRequestHandler):
    accounts: dict[str, str]  # jwt -> service account name

    def do_POST(self) -> None:
        def username(token: str) -> str | None:
            account = self.accounts.get(token)
            return None if account is None else f"system:serviceaccount:{NAMESPACE}:{account}"

        answer_token_review(self, username, K8S_UID)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Cluster:
    """What the pods would find around them: Secrets, Vault, service addresses, processes."""

    root: Path
    docs: list[dict[str, Any]]
    vault_addr: str
    secrets: dict[tuple[str, str], str]
    jwts: dict[str, str]  # service account -> its projected token
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[ServerProcess] = field(default_factory=list)

    def _rewrite(self, text: str, mounts: dict[str, Path]) -> str:
        for component in ("broker", "gateway"):
            if component in self.ports:
                text = re.sub(
                    rf"http://{FULLNAME}-{component}\.{NAMESPACE}\.svc:\d+",
                    f"http://127.0.0.1:{self.ports[component]}",
                    text,
                )
        if not mounts:
            return text
        pattern = "|".join(re.escape(p) for p in sorted(mounts, key=len, reverse=True))
        return re.sub(rf"(?<![\w.-])({pattern})(?=/|\b|$)", lambda m: str(mounts[m.group(1)]), text)

    def _configmap(self, name: str) -> dict[str, str]:
        return dict(one(self.docs, "ConfigMap", name)["data"])

    def _volume_files(self, volume: dict[str, Any]) -> dict[str, str] | None:
        if "configMap" in volume:
            data = self._configmap(volume["configMap"]["name"])
            items = volume["configMap"].get("items")
        elif "secret" in volume:
            name = volume["secret"]["secretName"]
            data = {key: value for (secret, key), value in self.secrets.items() if secret == name}
            items = volume["secret"].get("items")
        elif "projected" in volume:
            (source,) = volume["projected"]["sources"]
            return {source["serviceAccountToken"]["path"]: self.jwts[self._account]}
        else:
            return None  # emptyDir
        if items:
            return {i["path"]: data[i["key"]] for i in items}
        return data

    def container(
        self, doc: dict[str, Any], name: str | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """The container's command line and environment, materialised under self.root
        (``name``: one container or init container of a pod that has several)."""
        spec = pod_spec(doc)
        container = _pick(spec, name)
        self._account = spec.get("serviceAccountName", "default")
        base = self.root / f"{doc['kind']}-{doc['metadata']['name']}-{uuid.uuid4().hex[:6]}"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts: dict[str, Path] = {}
        contents: dict[str, dict[str, str] | None] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "persistentVolumeClaim" in volume:  # one disk, shared by every container
                target = self.root / "pvc" / volume["persistentVolumeClaim"]["claimName"]
                target.mkdir(parents=True, exist_ok=True)
                mounts[mount["mountPath"]] = target
                continue
            target = base / mount["mountPath"].lstrip("/")
            target.mkdir(parents=True)
            mounts[mount["mountPath"]] = target
            contents[mount["mountPath"]] = self._volume_files(volume)
        for path, files in contents.items():
            if files is None:
                continue
            # The kubelet's atomic-writer layout: ..<ts>/key, ..data -> ..<ts>, key -> ..data/key
            stamp = mounts[path] / "..2030_01_01_00_00_00.000000001"
            stamp.mkdir()
            (mounts[path] / "..data").symlink_to(stamp.name)
            for key, value in files.items():
                (stamp / key).write_text(self._rewrite(value, mounts))
                (mounts[path] / key).symlink_to(f"..data/{key}")
        env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
        if "PYTHONPATH" in os.environ:  # a clone run with PYTHONPATH=$PWD: the same code
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = self._rewrite(item["value"], mounts)
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = self.secrets[(ref["name"], ref["key"])]
        if "CAPBROKER_VAULT_ADDR" in env:
            env["CAPBROKER_VAULT_ADDR"] = self.vault_addr
        argv = [self._rewrite(a, mounts) for a in container["command"] + container.get("args", [])]
        argv[0] = {"capbroker": shutil.which("capbroker") or "capbroker", "python": sys.executable}[
            argv[0]
        ]
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(self.ports[container["name"]])
        return argv, env

    def run(
        self, doc: dict[str, Any], *extra: str, name: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv, env = self.container(doc, name)
        if extra:  # `kubectl exec` into the container: same env, another command
            argv = [argv[0], *extra]
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=self.root
        )

    def start(self, doc: dict[str, Any], name: str | None = None, path: str = "/readyz") -> str:
        argv, env = self.container(doc, name)
        container = _pick(pod_spec(doc), name)
        log = self.root / f"{container['name']}.log"
        url = f"http://127.0.0.1:{self.ports[container['name']]}{path}"
        try:
            process = ServerProcess.start(
                argv,
                ready=http_ready(url),
                log=log,
                env=env,
                cwd=self.root,
                timeout_s=READY_WITHIN_S,
            )
        except ServerNotReady:
            tail = _masked(log.read_text()[-3000:])
            pytest.fail(f"{container['name']} not ready at {url} within {READY_WITHIN_S}s:\n{tail}")
        self.processes.append(process)
        # The first broker prints the bootstrap admin credential: never shown.
        return _masked(log.read_text())

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def _pick(spec: dict[str, Any], name: str | None) -> dict[str, Any]:
    if name is None:
        (container,) = spec["containers"]
        return container  # type: ignore[no-any-return]
    (container,) = [
        c for c in spec["containers"] + spec.get("initContainers", []) if c["name"] == name
    ]
    return container  # type: ignore[no-any-return]


def _masked(text: str) -> str:
    return re.sub(r"capb_\w+", "capb_<masked>", text)


@pytest.fixture
def kubernetes_vault(own_openbao_server: OpenBaoServer) -> Iterator[dict[str, str]]:
    """OpenBao set up as docs/deploy.md says: kv-v2 at secret/, Transit key capbroker,
    Kubernetes auth with the roles the values name, bound to the chart's ServiceAccounts."""
    accounts = [FULLNAME, f"{FULLNAME}-migrate"]
    jwts = {account: service_account_jwt(account) for account in accounts}
    handler = type("Review", (_TokenReview,), {"accounts": {v: k for k, v in jwts.items()}})
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True).start()
    root = own_openbao_server.root_client()
    try:
        root.sys.enable_secrets_engine("transit", path="transit")
        root.secrets.transit.create_key("capbroker", key_type="ed25519", mount_point="transit")
        root.sys.create_or_update_policy(name="capbroker", policy=vault_policy() + transit_policy())
        root.sys.create_or_update_policy(
            name="capbroker-gateway", policy=vault_policy(read_only=True)
        )
        root.sys.enable_auth_method("kubernetes", path="kubernetes")
        root.auth.kubernetes.configure(
            kubernetes_host=f"http://127.0.0.1:{http.server_address[1]}",
            kubernetes_ca_cert=any_ca_pem(),
            disable_local_ca_jwt=True,
        )
        for role in ("capbroker", "capbroker-gateway"):
            root.auth.kubernetes.create_role(
                role,
                bound_service_account_names=accounts,
                bound_service_account_namespaces=[NAMESPACE],
                policies=[role],
                audience="vault",
                ttl="1h",
            )
        yield jwts
    finally:
        http.shutdown()
        http.server_close()


def _cluster(
    value_set: str, tmp_path: Path, vault: OpenBaoServer, jwts: dict[str, str], database_url: str
) -> Cluster:
    docs = render(value_set)
    broker = one(docs, "Deployment", f"{FULLNAME}-broker")
    # The URL is a mounted Secret file (database_url_file), never an environment variable.
    (volume,) = [v for v in pod_spec(broker)["volumes"] if v["name"] == "database-url"]
    (item,) = volume["secret"]["items"]
    ref = {"name": volume["secret"]["secretName"], "key": item["key"]}
    ca = {"kind": "ConfigMap", "metadata": {"name": "vault-ca"}, "data": {"ca.crt": any_ca_pem()}}
    docs = [*docs, ca]
    return Cluster(
        tmp_path,
        docs,
        vault.addr,
        {(ref["name"], ref["key"]): database_url},
        jwts,
        ports={"broker": free_port(), "gateway": free_port()},
    )


def _run_release(cluster: Cluster, *, with_manifests: bool) -> str:
    docs = cluster.docs
    migrated = cluster.run(one(docs, "Job", f"{FULLNAME}-migrate"))
    assert migrated.returncode == 0, migrated.stderr
    assert "database schema is current" in migrated.stdout
    broker_log = cluster.start(one(docs, "Deployment", f"{FULLNAME}-broker"))
    assert "secrets: vault" in broker_log
    if with_manifests:
        applied = cluster.run(one(docs, "Job", f"{FULLNAME}-manifests"))
        assert applied.returncode == 0, applied.stderr
        assert "CapabilityTemplate/staging-agent: created (v1)" in applied.stdout
    cluster.start(one(docs, "Deployment", f"{FULLNAME}-gateway"))
    return broker_log


def test_production_release_starts_and_passes_its_helm_test(
    tmp_path: Path,
    own_openbao_server: OpenBaoServer,
    kubernetes_vault: dict[str, str],
    pg_url: str,
) -> None:
    cluster = _cluster("production", tmp_path, own_openbao_server, kubernetes_vault, pg_url)
    try:
        broker_log = _run_release(cluster, with_manifests=True)
        assert "signer: vault transit" in broker_log
        assert "[ok]" in broker_log
        # The operator creates the test agent (kubectl exec into the broker) and its Secret.
        created = cluster.run(
            one(cluster.docs, "Deployment", f"{FULLNAME}-broker"), "agents", "create", "helm-test"
        )
        assert created.returncode == 0, created.stderr
        cluster.secrets[(f"{FULLNAME}-test-agent", "credential")] = created.stdout.strip()
        tested = cluster.run(one(cluster.docs, "Pod", f"{FULLNAME}-test"))
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "signature verified with published key" in tested.stdout
        assert "capbroker helm test passed" in tested.stdout
    finally:
        cluster.stop()


def test_minimal_release_starts_on_sqlite(
    tmp_path: Path,
    own_openbao_server: OpenBaoServer,
    kubernetes_vault: dict[str, str],
) -> None:
    url = f"sqlite:///{tmp_path}/capbroker.db"
    cluster = _cluster("minimal", tmp_path, own_openbao_server, kubernetes_vault, url)
    try:
        broker_log = _run_release(cluster, with_manifests=False)
        assert "signer: local" in broker_log
    finally:
        cluster.stop()


def test_dev_release_runs_with_no_values_and_forwards_an_agents_call(tmp_path: Path) -> None:
    """The defaults' one pod, container by container: the init containers migrate and make
    the demo provider's key; broker, gateway and demo provider start; an agent's token
    reaches the demo provider through the gateway, with the master key injected."""
    docs = render(None)
    ports = {"broker": free_port(), "gateway": free_port(), "demo-provider": free_port()}
    providers = one(docs, "ConfigMap", f"{FULLNAME}-providers")["data"]
    providers["providers.yaml"] = providers["providers.yaml"].replace(
        "127.0.0.1:8090", f"127.0.0.1:{ports['demo-provider']}"
    )
    cluster = Cluster(tmp_path, docs, "", {}, {}, ports=ports)
    pod = one(docs, "Deployment", f"{FULLNAME}-broker")
    try:
        for init in ("migrate", "demo-key"):
            done = cluster.run(pod, name=init)
            assert done.returncode == 0, (init, done.stderr)
        assert (tmp_path / "pvc" / f"{FULLNAME}-data" / "demo-provider.key").is_file()
        cluster.start(pod, "demo-provider", path="/healthz")
        broker_log = cluster.start(pod, "broker")
        assert "secrets: local" in broker_log
        assert "Bootstrap admin credential" in broker_log
        cluster.start(pod, "gateway")
        manifests = tmp_path / "manifests"
        manifests.mkdir()
        for doc in (FLOOR, TEMPLATE):
            (manifests / f"{doc['kind']}.yaml").write_text(yaml.safe_dump(doc))
        applied = cluster.run(pod, "apply", "-f", str(manifests), name="broker")
        assert applied.returncode == 0, applied.stderr
        created = cluster.run(pod, "agents", "create", "claude-dev", name="broker")
        assert created.returncode == 0, created.stderr
        token = httpx.post(
            f"http://127.0.0.1:{ports['broker']}/v1/tokens",
            headers={"Authorization": f"Bearer {created.stdout.strip()}"},
            json={"template": "staging-agent", "environment": "staging"},
        ).json()["access_token"]
        answer = httpx.post(
            f"http://127.0.0.1:{ports['gateway']}/railway-demo/graphql",
            headers={"Authorization": f"Bearer {token}"},
            json={"query": "{ projects { id } }"},
        )
        assert answer.status_code == 200, answer.text
        assert "projects" in answer.json()["data"]
    finally:
        cluster.stop()


def _workload_identity_sets(ci: LocalIssuer, cluster: LocalIssuer) -> tuple[str, ...]:
    """A listed GitHub-Actions-shaped issuer and the chart's in-cluster one, both the local
    test issuers (their own keys, their JWKS on 127.0.0.1)."""
    listed = "workloadIdentity.trustedIssuers[0]"
    return (
        "workloadIdentity.enabled=true",
        f"{listed}.apiVersion=capbroker.dev/v1",
        f"{listed}.kind=TrustedIssuer",
        f"{listed}.metadata.name=github-actions",
        f"{listed}.spec.issuer={ci.url}",
        f"{listed}.spec.jwksUri={ci.jwks_uri}",
        f"{listed}.spec.audiences[0]=https://github.com/octo-org",
        f"{listed}.spec.algorithms[0]=RS256",
        f"{listed}.spec.agents[0].name=ci.{{repo}}",
        f"{listed}.spec.agents[0].match.repository=octo-org/{{repo}}",
        "workloadIdentity.kubernetes.enabled=true",
        f"workloadIdentity.kubernetes.issuer={cluster.url}",
        f"workloadIdentity.kubernetes.jwksUri={cluster.jwks_uri}",
        "networkPolicy.workloadIdentity.to[0].cidr=127.0.0.1/32",
    )


def test_workload_identity_release_exchanges_platform_tokens(tmp_path: Path) -> None:
    """The dev release with workloadIdentity: the broker container starts with the rendered
    CAPBROKER_TRUSTED_ISSUERS_FILE and the trusted-issuers ConfigMap mounted (kubelet
    layout), and over its socket exchanges a CI OIDC token and a projected service-account
    token, each from a local issuer, for capability tokens that verify against its JWKS;
    a token for another audience is refused and issues nothing."""
    ci, in_cluster = LocalIssuer(), LocalIssuer()
    docs = render(None, _workload_identity_sets(ci, in_cluster))
    pod = one(docs, "Deployment", f"{FULLNAME}-broker")
    (broker_container,) = [c for c in pod_spec(pod)["containers"] if c["name"] == "broker"]
    assert "CAPBROKER_TRUSTED_ISSUERS_FILE" in {e["name"] for e in broker_container["env"]}
    port = free_port()
    cluster = Cluster(tmp_path, docs, "", {}, {}, ports={"broker": port})
    url = f"http://127.0.0.1:{port}"
    try:
        for init in ("migrate", "demo-key"):
            done = cluster.run(pod, name=init)
            assert done.returncode == 0, (init, done.stderr)
        cluster.start(pod, "broker")
        manifests = tmp_path / "manifests"
        manifests.mkdir()
        template = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "agents": ["ci.*", "k8s.agents.*"]}}
        for doc in (FLOOR, template):
            (manifests / f"{doc['kind']}.yaml").write_text(yaml.safe_dump(doc))
        applied = cluster.run(pod, "apply", "-f", str(manifests), name="broker")
        assert applied.returncode == 0, applied.stderr

        def exchange(subject_token: str) -> httpx.Response:
            return httpx.post(
                f"{url}/oauth/token",
                data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "subject_token": subject_token,
                    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                    "template": "staging-agent",
                    "environment": "staging",
                    "scope": "project:read",
                },
            )

        jwks = pyjwt.PyJWKClient(f"{url}/.well-known/jwks.json", cache_keys=False)
        now = time.time()
        issued: list[str] = []
        for platform_token, agent in (
            (ci.github_token(now), "ci.deployer"),
            (in_cluster.kubernetes_token(now), "k8s.agents.claude-code"),
        ):
            answer = exchange(platform_token)
            assert answer.status_code == 200, answer.text
            token = answer.json()["access_token"]
            claims = pyjwt.decode(
                token,
                jwks.get_signing_key_from_jwt(token),
                algorithms=["EdDSA"],
                audience="capbroker-gateway",
            )
            assert claims["client_id"] == agent
            assert claims["scope"] == "project:read"
            issued += [platform_token, token]
        # The keys came from the issuers' JWKS endpoints.
        assert ci.fetches >= 1
        assert in_cluster.fetches >= 1

        refused = exchange(ci.github_token(now, aud="https://github.com/evil-org"))
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["error"] == "invalid_grant"
        assert "access_token" not in refused.json()
        other = exchange(in_cluster.kubernetes_token(now, aud=["https://kubernetes.default.svc"]))
        assert other.status_code == 400, other.text
        assert other.json()["error"] == "invalid_grant"
        cluster.stop()
        log = (tmp_path / "broker.log").read_text()
        for secret in issued:  # neither the platform tokens nor the capability tokens
            assert secret not in log
            assert secret.split(".")[2] not in log
    finally:
        cluster.stop()
        ci.stop()
        in_cluster.stop()
