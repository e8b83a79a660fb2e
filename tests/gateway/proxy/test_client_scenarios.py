"""Real clients, each configured only by the variables ``capbroker exec --proxy`` sets,
calling Railway's real host through the forward proxy: Python ``requests`` and ``httpx``
(REQUESTS_CA_BUNDLE, SSL_CERT_FILE) and Node (undici's EnvHttpProxyAgent: Node 20's own
fetch ignores HTTPS_PROXY; NODE_EXTRA_CA_CERTS). For each, in one run: an allowed read
passes, the incident's call is refused with path mode's reason, a host no provider names
is refused at CONNECT, a CONNECT without the token gets 407, the master key never shows in
what the client sees, and the audit chain holds every one of those decisions, intact."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.demo.railway import IDS
from tests.gateway.proxy.proxy_stack import RAILWAY_HOST, ProxyStack

HERE = Path(__file__).parent
NODE_DIR = HERE / "node"
URL = f"https://{RAILWAY_HOST}/graphql/v2"
READ = {"query": "query($id: String!) { project(id: $id) { name } }", "variables": {"id": IDS.shop}}
INCIDENT = {
    "query": "mutation($v: String!) { volumeDelete(volumeId: $v) }",
    "variables": {"v": IDS.shared_volume},
}
Argv = Callable[[str, str, str], list[str]]


def node_client() -> Argv:
    if not (NODE_DIR / "node_modules" / "undici").is_dir():  # `make system-deps` installs it
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return lambda method, url, body: ["node", str(NODE_DIR / "client.mjs"), method, url, body]


def python_client(library: str) -> Argv:
    script = str(HERE / "py_client.py")
    return lambda method, url, body: [sys.executable, script, library, method, url, body]


CLIENTS: dict[str, Callable[[], Argv]] = {
    "requests": lambda: python_client("requests"),
    "httpx": lambda: python_client("httpx"),
    "node": node_client,
}
# What each shows its user for a refused CONNECT (undici's fetch reports any refused
# tunnel as "Request was cancelled.": the audit log below says which refusal it was).
SHOWS_CONNECT_STATUS = {"requests": True, "httpx": True, "node": False}


def environment(px: ProxyStack, token: str | None) -> dict[str, str]:
    """What ``exec --proxy`` gives a command (test_exec_proxy.py checks that it does)."""
    ca = str(px.ca_file)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "NO_PROXY": "localhost"}
    env |= dict.fromkeys(("HTTPS_PROXY", "https_proxy"), px.proxy_url(token))
    env |= dict.fromkeys(("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"), ca)
    if token is not None:
        env["RAILWAY_API_TOKEN"] = token  # the tool sends it too; the tunnel drops it
    return env


def run(argv: Argv, px: ProxyStack, token: str | None, url: str, body: Any) -> dict[str, Any]:
    done = subprocess.run(
        argv("POST", url, json.dumps(body)),
        env=environment(px, token),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert px.master_key not in done.stdout + done.stderr
    return answer


def path_mode_code(px: ProxyStack, token: str, body: Any) -> str:
    answer = httpx.post(
        f"{px.url}/railway/graphql/v2", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    code: str = answer.json()["code"]
    return code


@pytest.mark.parametrize("client", list(CLIENTS))
def test_an_unmodified_client_through_the_proxy(px: ProxyStack, client: str) -> None:
    argv = CLIENTS[client]()
    token = px.token()

    read = run(argv, px, token, URL, READ)
    assert read["status"] == 200, read
    assert json.loads(read["body"])["data"]["project"]["name"] == "shop"
    assert px.seen()
    assert token not in json.dumps(px.seen())  # the replica got its own key, not the token
    px.reset()

    incident = run(argv, px, token, URL, INCIDENT)
    assert incident["status"] == 403, incident
    assert incident["headers"]["content-type"] == "application/problem+json"
    code = json.loads(incident["body"])["code"]
    assert code == "environment_not_granted"
    assert not [e for e in px.seen() if "volumeDelete" in (e["body"] or "")]

    elsewhere = run(argv, px, token, "https://example.com/", {})
    no_token = run(argv, px, None, URL, READ)
    assert (elsewhere["status"], no_token["status"]) == (0, 0), (elsewhere, no_token)
    if SHOWS_CONNECT_STATUS[client]:
        assert "403" in elsewhere["error"], elsewhere
        assert "407" in no_token["error"], no_token

    with px.services.db.read() as db:
        events = query_events(db, AuditQuery(type="gateway.decision", limit=5))
        assert all(report.ok for report in verify_all(db))
    path_code = path_mode_code(px, token, INCIDENT)  # after reading: it is audited too
    assert path_code == code
    mine = [(e["outcome"], e["reason"], e["subject"]) for e in reversed(events)]
    assert [m[:2] for m in mine[-4:]] == [
        ("ok", ""),
        ("denied", "environment_not_granted"),
        ("denied", "unknown_route"),
        ("denied", "unauthenticated"),
    ], mine
    assert mine[-2][2] == "?:CONNECT example.com:443"
