"""Over real sockets: `capbroker serve` on the embedded default, driven by the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from broker.tokens import TokenVerifier, public_key_from_jwk
from tests.support.processes import ROOT, cli, served_broker

pytestmark = pytest.mark.slow


def test_fresh_machine_flow(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "serve.log"
    with served_broker(data, log) as base:
        admin = re.search(r"capb_adm_\S+", log.read_text())
        assert admin is not None, "bootstrap admin credential was not printed"

        applied = cli(data, "apply", "-f", str(ROOT / "examples" / "templates"))
        assert applied.returncode == 0, applied.stderr
        assert "CapabilityTemplate/staging-agent: created (v1)" in applied.stdout
        again = cli(data, "apply", "-f", str(ROOT / "examples" / "templates"))
        assert "unchanged" in again.stdout
        assert "created" not in again.stdout

        created = cli(data, "agents", "create", "claude-code")
        assert created.returncode == 0, created.stderr
        agent = created.stdout.strip()
        assert agent.startswith("capb_agt_")

        got = cli(
            data,
            "token",
            "request",
            "--url",
            base,
            "--template",
            "staging-agent",
            "--env",
            "staging",
            "--action",
            "deployment:create",
            "--ttl",
            "120",
            env={"CAPBROKER_AGENT_CREDENTIAL": agent},
        )
        assert got.returncode == 0, got.stderr
        token = got.stdout.strip()

        refused = cli(
            data,
            "token",
            "request",
            "--url",
            base,
            "--template",
            "staging-agent",
            "--env",
            "production",
            env={"CAPBROKER_AGENT_CREDENTIAL": agent},
        )
        assert refused.returncode == 2
        assert "environment_not_granted" in refused.stderr

        jwks = httpx.get(f"{base}/.well-known/jwks.json").json()
        keys = {k["kid"]: public_key_from_jwk(k) for k in jwks["keys"]}
        meta = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
        verifier = TokenVerifier(keys.get, issuer=meta["issuer"], audience="capbroker-gateway")
        verified = verifier.verify(token, now=time.time())
        assert verified.authorization_details[0]["actions"] == ["deployment:create"]

        verify = cli(data, "audit", "verify")
        assert verify.returncode == 0
        assert "intact" in verify.stdout
        assert httpx.get(f"{base}/schema/openapi.json").json()["info"]["title"] == "capbroker"
    output = log.read_text()
    # The bootstrap credential is printed once; no other secret reaches the server's output.
    assert output.count("capb_adm_") == 1
    assert agent not in output
    assert token not in output


def test_exec_runs_a_command_with_a_session_token_and_ends_the_session(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "serve.log"
    with served_broker(data, log) as base:
        assert cli(data, "apply", "-f", str(ROOT / "examples" / "templates")).returncode == 0
        agent = cli(data, "agents", "create", "claude-exec").stdout.strip()
        script = (
            "import os, sys; print(os.environ['RAILWAY_DEMO_API_URL']); "
            "print(os.environ['RAILWAY_DEMO_TOKEN']); "
            "print('CAPBROKER_AGENT_CREDENTIAL' in os.environ); sys.exit(7)"
        )
        ran = cli(
            data,
            "exec",
            "--url",
            base,
            "--gateway",
            "http://gw.test:8081",
            "--template",
            "staging-agent",
            "--env",
            "staging",
            "--",
            sys.executable,
            "-c",
            script,
            env={"CAPBROKER_AGENT_CREDENTIAL": agent},
        )
        assert ran.returncode == 7, ran.stderr
        url, token, leaked = ran.stdout.split()
        assert url == "http://gw.test:8081/railway-demo"
        assert leaked == "False"
        admin = cli(data, "admins", "create", "ops").stdout.strip()
        seen = httpx.post(
            f"{base}/oauth/introspect",
            data={"token": token},
            headers={"Authorization": f"Bearer {admin}"},
        ).json()
        assert seen == {"active": False}  # the session ended with the command


def _demo(*args: str) -> str:
    ran = subprocess.run(
        [sys.executable, "-m", "broker.cli.main", "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "FAIL" not in ran.stdout
    assert "verified intact" in ran.stdout
    return ran.stdout


def test_demo_replays_the_incident_on_the_railway_replica() -> None:
    out = _demo()
    assert "replica of Railway's public API" in out
    assert "THE INCIDENT: volumeDelete on pg-data" in out
    assert "-> environment_not_granted: volume:delete touches <shop>/production" in out
    assert "-> forbidden_verb" in out
    assert "-> relation_unproven" in out
    assert "touches <blog>/staging; the token is for <shop>/staging" in out
    assert "volume pg-data and production's backup still exist" in out
    assert "the exact call, retried with the approval -> 200" in out
    assert "the same approval again -> approval_denied" in out
    assert "LOG_LEVEL deleted in staging, production's untouched" in out


def test_demo_replays_the_incident_on_the_teaching_provider() -> None:
    out = _demo("--provider", "railway-demo")
    assert "THE INCIDENT: volumeDelete on vol-pg" in out
    assert "-> environment_not_granted: volume:delete touches production" in out
    assert "-> forbidden_verb" in out
    assert "vol-pg and its backups still exist" in out
    assert "the exact call, retried with the approval -> 200" in out
    # refused as a spent approval, before the gateway looks the (deleted) volume up again
    assert "the same approval again -> approval_denied" in out
    assert "vol-cache deleted, vol-pg untouched" in out


def test_bootstrap_admin_from_a_file_is_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from broker.auth.credentials import new_credential

    credential = new_credential("admin").value
    secret = tmp_path / "bootstrap"
    secret.write_text(credential + "\n")
    log = tmp_path / "serve.log"
    monkeypatch.setenv("CAPBROKER_BOOTSTRAP_ADMIN_FILE", str(secret))
    data = tmp_path / "data"
    with served_broker(data, log) as base:
        r = httpx.get(f"{base}/v1/admin/agents", headers={"Authorization": f"Bearer {credential}"})
        assert r.status_code == 200
    output = log.read_text()
    assert "capb_adm_" not in output
    assert "from bootstrap_admin_file" in output


def test_demo_replays_the_incident_from_curl_through_the_forward_proxy() -> None:
    out = _demo("--proxy")
    assert "6. An unmodified tool (curl) calls Railway's real host through the proxy" in out
    assert (
        "[ok ] THE INCIDENT's volumeDelete at backboard.railway.com -> environment_not_granted"
        in out
    )
    assert "a host no provider names (api.github.com) -> 403" in out
    assert "a CONNECT without the token -> 407" in out
