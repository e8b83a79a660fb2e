"""``capbroker session start --proxy``: the variables a shell (or an agent's environment
file) sources to send an unmodified tool through the forward proxy; ``session status``
then shows the budgets the gateway counted; ``session end`` stops the tunnel's token."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from broker.audit.reader import AuditQuery, query_events
from broker.demo.world import RAILWAY_STAGING
from tests.gateway.proxy.proxy_stack import RAILWAY_HOST, ProxyStack
from tests.gateway.proxy.test_exec_proxy import READ, ROOT, TRUST_VARS, URL
from tests.support.railway_stack import TEMPLATE
from tests.support.servers import HOST

CURL = f"curl -sS -H 'content-type: application/json' --data-binary '{json.dumps(READ)}' {URL}"


def capbroker(px: ProxyStack, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    credential = project.parent / "credential"
    credential.write_text(px.agent)
    credential.chmod(0o600)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "broker.cli.main", *args, "--credential-file", str(credential)],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=60,
        check=False,
    )


def start(px: ProxyStack, project: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    return capbroker(
        px, project, "session", "start", "--url", px.broker_url, "--gateway", px.url,
        "--proxy", f"http://{HOST}:{px.proxy_port}", "--ca", str(px.ca_file),
        "--providers", str(px.providers_file), "--template", TEMPLATE, "--env", RAILWAY_STAGING,
        "--format", fmt,
    )  # fmt: skip


def bash(
    command: str, cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def shell(project: Path, env_file: Path, command: str) -> subprocess.CompletedProcess[str]:
    """A fresh shell that sources the session's variables, as Claude Code's Bash does."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project)}
    return bash(f". {env_file} && {command}", project, env)


def test_session_start_proxy_prints_the_proxy_and_ca_variables(
    px: ProxyStack, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    out = start(px, project, "json")
    assert out.returncode == 0, out.stderr
    variables = json.loads(out.stdout)
    token = variables["RAILWAY_TOKEN"]
    assert variables["HTTPS_PROXY"] == f"http://capbroker:{token}@{HOST}:{px.proxy_port}"
    assert variables["RAILWAY_API_TOKEN"] == token  # the providers file's token_env
    assert variables["NODE_EXTRA_CA_CERTS"] == str(px.ca_file)
    bundle = Path(variables["SSL_CERT_FILE"])
    assert bundle.parent == project / ".capbroker"  # kept for the session, never committed
    assert {variables[v] for v in TRUST_VARS} == {str(bundle)}
    assert px.ca_file.read_text() in bundle.read_text()
    assert RAILWAY_HOST not in variables["NO_PROXY"]
    assert variables["RAILWAY_API_URL"] == f"{px.url}/railway"  # path mode beside it
    assert px.agent not in out.stdout + out.stderr


def test_a_shell_sourcing_the_session_goes_through_the_proxy_and_status_counts_it(
    px: ProxyStack, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    out = start(px, project, "env")
    assert out.returncode == 0, out.stderr
    env_file = tmp_path / "session.env"
    env_file.write_text(out.stdout)
    read = shell(project, env_file, CURL)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["data"]["project"]["name"] == "shop"
    status = capbroker(px, project, "session", "status", "--json")
    assert status.returncode == 0, status.stderr
    answer = json.loads(status.stdout)
    assert answer["budgets_used"] == {"calls": 1, "destructive_calls": 0}
    limit = answer["budgets"]["calls"]
    assert answer["budgets_left"]["calls"] == limit - 1
    human = capbroker(px, project, "session", "status")
    assert f"calls 1 of {limit} used" in human.stdout
    end = capbroker(px, project, "session", "end")
    assert end.returncode == 0, end.stderr
    px.reset()
    deadline = time.monotonic() + 3  # the gateway learns revocations within a poll
    while (after := shell(project, env_file, CURL)).returncode == 0:
        assert time.monotonic() < deadline, after.stdout
        px.reset()
        time.sleep(0.1)
    # the CONNECT itself is refused now
    assert "403" in after.stderr, after.stderr
    assert px.seen() == []
    with px.services.db.read() as db:
        [event] = query_events(db, AuditQuery(type="gateway.decision", limit=1))
    assert (event["reason"], event["subject"]) == (
        "token_revoked",
        f"railway:CONNECT {RAILWAY_HOST}:443",
    )
