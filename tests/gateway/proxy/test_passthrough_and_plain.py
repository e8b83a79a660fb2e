"""Passthrough hosts (tunnelled untouched, no credential, audited) and plain-HTTP proxying
(absolute-form ``http://`` requests to a provider's host, through the same pipeline)."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from pathlib import Path
from typing import Any

import pytest

from broker.audit.reader import AuditQuery, query_events
from broker.demo.railway import IDS
from broker.errors import InvalidRequest
from broker.gateway.factory import parse_providers
from broker.gateway.proxy.checks import Authority, parse_absolute
from broker.gateway.proxy.passthrough import parse_passthrough
from tests.gateway.proxy.proxy_stack import RAILWAY_HOST, ProxyStack
from tests.gateway.proxy.test_providers_hosts import entry
from tests.gateway.proxy.tls_standin import STANDIN_HOST
from tests.support.servers import HOST

READ = {"query": "query($id: String!) { project(id: $id) { name } }", "variables": {"id": IDS.shop}}
INCIDENT = {"query": "mutation($v: String!) { volumeDelete(volumeId: $v) }"}


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"capbroker:{token}".encode()).decode()


def last_decisions(px: ProxyStack, limit: int) -> list[dict[str, Any]]:
    with px.services.db.read() as db:
        return query_events(db, AuditQuery(type="gateway.decision", limit=limit))


def passthrough_conn(
    px: ProxyStack, token: str | None, cafile: Path
) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection(HOST, px.proxy_port, context=context, timeout=15)
    headers = {"Proxy-Authorization": basic(token)} if token else {}
    conn.set_tunnel(STANDIN_HOST, px.standin.port, headers=headers)
    return conn


def test_a_passthrough_host_is_tunnelled_untouched_and_audited(px: ProxyStack) -> None:
    px.standin.seen.clear()
    token = px.token()
    conn = passthrough_conn(px, token, px.standin.ca_file)  # the host's own CA, not ours
    conn.request("GET", "/hello", headers={"X-Probe": "1"})
    response = conn.getresponse()
    assert (response.status, json.loads(response.read())) == (200, {"standin": True})
    conn.close()
    [seen] = px.standin.seen
    assert seen["path"] == "/hello"
    assert seen["headers"]["X-Probe"] == "1"
    sent = json.dumps(seen)
    assert token not in sent  # no credential went along
    assert px.master_key not in sent
    assert "Proxy-Authorization" not in sent
    assert px.seen() == []  # nothing went to the provider
    [event] = last_decisions(px, 1)
    assert event["subject"] == f"passthrough:CONNECT {STANDIN_HOST}:{px.standin.port}"
    assert (event["outcome"], event["data"]["passthrough"]) == ("ok", True)
    assert event["data"]["provider"] == "railway"  # whose session opened it


def test_a_passthrough_host_is_never_intercepted(px: ProxyStack) -> None:
    conn = passthrough_conn(px, px.token(), px.ca_file)  # trusting only capbroker's CA
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/")
    conn.close()


def test_a_passthrough_connect_still_needs_the_token(px: ProxyStack) -> None:
    px.standin.seen.clear()
    for token, status in ((None, 407), ("not-a-token", 407)):
        conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
        headers = {"Proxy-Authorization": basic(token)} if token else {}
        conn.request("CONNECT", f"{STANDIN_HOST}:{px.standin.port}", headers=headers)
        response = conn.getresponse()
        assert response.status == status
        assert response.getheader("Proxy-Authenticate") == 'Basic realm="capbroker"'
        conn.close()
    assert px.standin.seen == []
    assert [e["outcome"] for e in last_decisions(px, 2)] == ["denied", "denied"]


def test_the_passthrough_port_is_part_of_the_entry(px: ProxyStack) -> None:
    conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
    conn.request(
        "CONNECT", f"{STANDIN_HOST}:443", headers={"Proxy-Authorization": basic(px.token())}
    )
    response = conn.getresponse()
    assert response.status == 403
    assert json.loads(response.read())["refusal"] == "host_not_allowed"


def test_a_provider_host_can_never_be_passthrough(tmp_path: Path) -> None:
    doc = {"providers": [entry("railway", [RAILWAY_HOST])]}
    routes = parse_providers(doc, source="p.yaml", base=tmp_path)
    assert parse_passthrough(["github.com", "x.test:8443"], routes) == {
        Authority("github.com", 443),
        Authority("x.test", 8443),
    }
    with pytest.raises(InvalidRequest, match="is a provider's host"):
        parse_passthrough([RAILWAY_HOST], routes)


def plain(px: ProxyStack, token: str | None, body: dict[str, Any], **extra: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
    headers = {"Content-Type": "application/json", **extra}
    if token is not None:
        headers["Proxy-Authorization"] = basic(token)
    conn.request(
        "POST", f"http://{RAILWAY_HOST}/graphql/v2", body=json.dumps(body), headers=headers
    )
    response = conn.getresponse()
    answer = response.status, json.loads(response.read())
    conn.close()
    return answer


def test_plain_http_to_a_provider_host_runs_through_the_pipeline(px: ProxyStack) -> None:
    token = px.token()
    status, body = plain(px, token, READ)
    assert status == 200, body
    assert body["data"]["project"]["name"] == "shop"
    assert token not in json.dumps(px.seen())  # the replica got its own key, not the token
    px.reset()
    status, body = plain(px, token, {**INCIDENT, "variables": {"v": IDS.shared_volume}})
    assert (status, body["code"]) == (403, "environment_not_granted")
    assert not [e for e in px.seen() if "volumeDelete" in (e["body"] or "")]
    assert px.master_key not in json.dumps(body)
    [event] = last_decisions(px, 1)
    assert event["reason"] == "environment_not_granted"


def test_plain_http_needs_the_token_and_a_named_host(px: ProxyStack) -> None:
    status, body = plain(px, None, READ)
    assert (status, body["status"]) == (407, 407)
    conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
    conn.request("GET", "http://example.com/", headers={"Proxy-Authorization": basic(px.token())})
    response = conn.getresponse()
    assert response.status == 403
    assert json.loads(response.read())["refusal"] == "host_not_allowed"
    assert px.seen() == []


def test_every_plain_request_on_a_connection_carries_that_connections_token(
    px: ProxyStack,
) -> None:
    token, other = px.token(), px.token()
    conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
    url = f"http://{RAILWAY_HOST}/graphql/v2"
    for credentials, expected in ((token, 200), (token, 200), (other, 403)):
        headers = {"Content-Type": "application/json", "Proxy-Authorization": basic(credentials)}
        conn.request("POST", url, body=json.dumps(READ), headers=headers)
        response = conn.getresponse()
        answer = json.loads(response.read())
        assert response.status == expected, answer
    assert answer["refusal"] == "foreign_credential"
    conn.close()


def test_a_plain_request_for_another_host_on_the_connection_is_refused(px: ProxyStack) -> None:
    status, body = plain(px, px.token(), READ, Host="api.github.com")
    assert (status, body["refusal"]) == (400, "host_mismatch")
    assert px.seen() == []


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"http://Api.Example.com/a?b=1", (Authority("api.example.com", 80), "/a?b=1")),
        (b"http://h:8080", (Authority("h", 8080), "/")),
        (b"http://h?x=1", (Authority("h", 80), "/?x=1")),
    ],
)
def test_absolute_form_targets_are_read_strictly(
    target: bytes, expected: tuple[Authority, str]
) -> None:
    assert parse_absolute(target) == expected


@pytest.mark.parametrize(
    "target", [b"https://h/", b"ftp://h/", b"/path", b"http://u@h/", b"http://:80/", b"http://h:x/"]
)
def test_other_targets_are_refused(target: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_absolute(target)


def test_the_providers_file_checks_passthrough_entries(tmp_path: Path) -> None:
    base = {"providers": [entry("railway", [RAILWAY_HOST])]}
    parse_providers(
        {**base, "proxy": {"passthrough": ["github.com:443"]}}, source="p", base=tmp_path
    )
    for bad in (["https://x"], ["X.com"], [], "x.com"):
        with pytest.raises(InvalidRequest, match="passthrough"):
            parse_providers({**base, "proxy": {"passthrough": bad}}, source="p", base=tmp_path)
    with pytest.raises(InvalidRequest, match="proxy must be a mapping"):
        parse_providers({**base, "proxy": {"allow": []}}, source="p", base=tmp_path)
