"""Unmodified clients (curl, httpx) calling Railway's real host through the forward proxy,
with only HTTPS_PROXY-style settings and the capbroker CA: the same verdicts as path mode,
checked where they matter (what reached the replica, what the audit log holds)."""

from __future__ import annotations

import json
import ssl
import subprocess
from typing import Any

import httpx

from broker.audit.reader import AuditQuery, query_events
from broker.demo.railway import IDS
from tests.gateway.proxy.proxy_stack import RAILWAY_HOST, ProxyStack

URL = f"https://{RAILWAY_HOST}/graphql/v2"
READ = "query($id: String!) { project(id: $id) { name } }"
INCIDENT = "mutation($v: String!) { volumeDelete(volumeId: $v) }"
CURL = "/usr/bin/curl"
# No proxy or CA settings leak in from the test runner's environment.
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}


def graphql(query: str, variables: dict[str, Any]) -> str:
    return json.dumps({"query": query, "variables": variables})


def curl(px: ProxyStack, proxy: str, *args: str) -> tuple[str, str, str]:
    """curl through ``proxy``: (status line codes ``connect/http``, headers+body, stderr)."""
    done = subprocess.run(
        [
            CURL,
            "-sS",
            "-i",
            "--max-time",
            "20",
            "--proxy",
            proxy,
            "--cacert",
            str(px.ca_file),
            "-w",
            "\n%{http_connect}/%{http_code}",
            *args,
        ],
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        timeout=30,
        check=False,
    )
    output, _, codes = done.stdout.rpartition("\n")
    return codes, output, done.stderr


def curl_graphql(
    px: ProxyStack, token: str | None, query: str, variables: dict[str, Any], *extra: str
) -> tuple[str, str, str]:
    return curl(
        px,
        px.proxy_url(token),
        "-H",
        "content-type: application/json",
        "--data-binary",
        graphql(query, variables),
        *extra,
        URL,
    )


def body_of(output: str) -> dict[str, Any]:
    return json.loads(output.rpartition("\n\n")[2])


def test_curl_an_allowed_read_passes_with_the_master_key_injected(px: ProxyStack) -> None:
    token = px.token()
    codes, output, err = curl_graphql(px, token, READ, {"id": IDS.shop})
    assert codes == "200/200", (codes, output, err)
    assert body_of(output)["data"]["project"]["name"] == "shop"
    # the replica answered only because it got its own key; it never saw the token
    assert px.seen()
    assert token not in json.dumps(px.seen())
    assert px.master_key not in output + err


def test_curl_the_incident_is_refused_as_in_path_mode(px: ProxyStack) -> None:
    token = px.token()
    codes, output, err = curl_graphql(px, token, INCIDENT, {"v": IDS.shared_volume})
    assert codes == "200/403", (codes, output, err)
    problem = body_of(output)
    assert problem["code"] == "environment_not_granted"
    assert f"{IDS.shop}/production" in problem["detail"]
    path_mode = httpx.post(
        f"{px.url}/railway/graphql/v2",
        content=graphql(INCIDENT, {"v": IDS.shared_volume}),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert path_mode.json()["code"] == problem["code"]
    # only the gateway's own look-ups reached the replica; the volume is still there
    assert not [e for e in px.seen() if "volumeDelete" in (e["body"] or "")]
    with px.replica.state.lock:
        assert IDS.shared_volume in px.replica.state.tables.volumes
    assert px.master_key not in output


def decisions(px: ProxyStack, limit: int) -> list[dict[str, Any]]:
    with px.services.db.read() as db:
        return query_events(db, AuditQuery(type="gateway.decision", limit=limit))


def test_curl_to_a_host_no_provider_names_is_refused_at_connect(px: ProxyStack) -> None:
    codes, output, err = curl(px, px.proxy_url(px.token()), "https://example.com/")
    assert codes.startswith("403/"), (codes, output, err)
    # curl shows a refused CONNECT's head only (http.client reads its body: test_tunnel.py)
    assert "content-type: application/problem+json" in output.lower()
    assert px.seen() == []
    [event] = decisions(px, 1)
    assert event["reason"] == "unknown_route"
    assert event["subject"] == "?:CONNECT example.com:443"


def test_curl_without_a_token_gets_407_and_nothing_is_tunnelled(px: ProxyStack) -> None:
    codes, output, _ = curl_graphql(px, None, READ, {"id": IDS.shop})
    assert codes.startswith("407/"), (codes, output)
    head = output.lower()
    assert 'proxy-authenticate: basic realm="capbroker"' in head
    codes, output, _ = curl_graphql(px, "not-a-token", READ, {"id": IDS.shop})
    assert codes.startswith("407/"), (codes, output)
    assert px.seen() == []
    assert [e["reason"] for e in decisions(px, 2)] == ["token_invalid", "unauthenticated"]


def httpx_client(px: ProxyStack, token: str) -> httpx.Client:
    verify = ssl.create_default_context(cafile=str(px.ca_file))
    return httpx.Client(proxy=px.proxy_url(token), verify=verify, trust_env=False, timeout=15)


def test_httpx_reads_and_is_refused_the_incident_like_path_mode(px: ProxyStack) -> None:
    token = px.token()
    with httpx_client(px, token) as client:
        read = client.post(URL, json={"query": READ, "variables": {"id": IDS.shop}})
        assert read.status_code == 200, read.text
        assert read.json()["data"]["project"]["name"] == "shop"
        px.reset()
        incident = client.post(
            URL,
            json={"query": INCIDENT, "variables": {"v": IDS.shared_volume}},
            headers={"Authorization": f"Bearer {token}"},  # the tool's own token variable
        )
    assert incident.status_code == 403
    assert incident.headers["content-type"] == "application/problem+json"
    assert incident.json()["code"] == "environment_not_granted"
    assert not [e for e in px.seen() if "volumeDelete" in (e["body"] or "")]
    for response in (read, incident):
        assert px.master_key not in response.text
        assert px.master_key not in str(response.headers)
