"""GitHub's own CLI, ``gh`` (the Debian package, a Go program), calling ``api.github.com``
through the forward proxy with ``GH_TOKEN`` holding a capability token, as ``capbroker
exec --proxy`` runs it: HTTPS_PROXY with the token as proxy password, SSL_CERT_FILE with
capbroker's CA. The provider behind the host is a local GitHub stand-in
(tests/gateway/test_github_gateway.py), so nothing leaves the machine.

gh sends ``Authorization: token $GH_TOKEN``; the tunnel accepts it because it is the
tunnel's own token, and GitHub receives the master key instead."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.clock import system_clock
from broker.demo.provider.server import ServerThread
from broker.demo.world import Principal, Seed, provider_route
from broker.domain.grants import GrantRequest
from broker.gateway.factory import build_gateway
from broker.gateway.proxy.ca import LeafCache, load_or_create_ca
from broker.gateway.proxy.serve import FrontEndsThread
from broker.manifests import parse_manifest
from broker.services.container import Services
from tests.gateway.test_github_gateway import INVENTORY, STAGING, TEMPLATE, FakeGitHub
from tests.support.servers import HOST
from tests.support.world import broker_settings, seeded_world

GH = shutil.which("gh") or "/usr/bin/gh"  # `make system-deps` installs the Debian package
DEPLOYMENT = "repos/acme/app/deployments/42"


@dataclass
class GhStack:
    services: Services
    url: str
    proxy_port: int
    ca_file: Path
    home: Path
    github: FakeGitHub
    master_key: str = field(repr=False)
    credential: str = field(repr=False)

    def token(self) -> str:
        issued = self.services.issuance.issue(self.credential, GrantRequest("gh-staging", STAGING))
        return issued.access_token

    def gh(self, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
        """``gh api ...`` with what exec --proxy sets (no token: proxy without credentials)."""
        proxy = f"http://capbroker:{token}@{HOST}:{self.proxy_port}" if token else (
            f"http://{HOST}:{self.proxy_port}"
        )  # fmt: skip
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "GH_CONFIG_DIR": str(self.home / "gh"),
            "GH_NO_UPDATE_NOTIFIER": "1",
            "GH_PROMPT_DISABLED": "1",
            "HTTPS_PROXY": proxy,
            "SSL_CERT_FILE": str(self.ca_file),
            "GH_TOKEN": token or "unset",
        }
        return subprocess.run(
            [GH, "api", *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )


@pytest.fixture(scope="module")
def ghs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GhStack]:
    if shutil.which("gh") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "gh"], check=True, capture_output=True)
    tmp = tmp_path_factory.mktemp("gh-proxy")
    key = secrets.token_urlsafe(24)
    seed = Seed(
        manifests=[parse_manifest(TEMPLATE, "gh#1")],
        provider_keys={"github": key},
        principals=[Principal("agent", "claude-code")],
    )
    world = seeded_world(broker_settings(tmp, f"sqlite:///{tmp}/b.db"), seed)
    fake = FakeGitHub(key)
    upstream = ServerThread(fake).start()
    route = provider_route("github", upstream.url)
    route.inventory.update(INVENTORY)
    route.hosts = ("api.github.com",)
    services = world.services
    gateway = build_gateway(
        services.settings, {"github": route}, jwks=services.keys.jwks, poll_interval=0.2
    )
    ca = load_or_create_ca(services.secrets, system_clock)
    ca_file = tmp / "ca.pem"
    ca_file.write_text(ca.pem())
    front = FrontEndsThread(gateway, LeafCache(ca, system_clock)).start()
    try:
        yield GhStack(
            services,
            front.url,
            front.proxy_port,
            ca_file,
            tmp,
            fake,
            key,
            world.credential("claude-code"),
        )
    finally:
        front.stop()
        upstream.stop()
        gateway.store.db.engine.dispose()
        services.close()


def decisions(stack: GhStack, limit: int) -> list[dict[str, Any]]:
    with stack.services.db.read() as db:
        assert all(report.ok for report in verify_all(db))
        return query_events(db, AuditQuery(type="gateway.decision", limit=limit))


def test_gh_reads_through_the_proxy_with_the_master_key_swapped_in(ghs: GhStack) -> None:
    ghs.github.log.clear()
    token = ghs.token()
    done = ghs.gh(token, DEPLOYMENT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["environment"] == "staging"
    assert ghs.github.log
    assert all(e["keyed"] for e in ghs.github.log)  # GitHub got the master key, every time
    assert ghs.master_key not in done.stdout + done.stderr
    [event] = decisions(ghs, 1)
    assert (event["outcome"], event["subject"]) == ("ok", f"github:GET /{DEPLOYMENT}")


def test_gh_retargeting_a_deployment_to_production_is_refused_as_in_path_mode(
    ghs: GhStack,
) -> None:
    ghs.github.log.clear()
    token = ghs.token()
    path = f"{DEPLOYMENT}/statuses"
    done = ghs.gh(token, "-X", "POST", path, "-f", "state=success", "-f", "environment=production")
    assert done.returncode != 0
    problem = json.loads(done.stdout)
    assert problem["code"] == "environment_not_granted"
    assert ("POST", f"/{path}") not in ghs.github.calls()  # only the gateway's look-ups
    assert ghs.master_key not in done.stdout + done.stderr
    path_mode = httpx.post(
        f"{ghs.url}/github/{path}",
        json={"state": "success", "environment": "production"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert path_mode.json()["code"] == problem["code"]
    events = decisions(ghs, 2)
    assert [e["reason"] for e in events] == ["environment_not_granted"] * 2


def test_gh_to_a_host_no_provider_names_or_without_a_token_is_refused(ghs: GhStack) -> None:
    ghs.github.log.clear()
    other = ghs.gh(ghs.token(), "--hostname", "ghe.example.com", "user")
    assert other.returncode != 0
    assert "Forbidden" in other.stderr, other.stderr  # Go shows the reason phrase only
    anonymous = ghs.gh(None, DEPLOYMENT)
    assert anonymous.returncode != 0
    assert "Proxy Authentication Required" in anonymous.stderr, anonymous.stderr
    assert ghs.github.log == []
    events = decisions(ghs, 2)
    assert [e["reason"] for e in events] == ["unauthenticated", "unknown_route"]
    assert events[1]["subject"] == "?:CONNECT ghe.example.com:443"
