"""One tunnel, many requests, by Python's own http.client (CONNECT with set_tunnel): the
tunnel is bound to its token, re-checked per request, and frames HTTP/1.1 only."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
from typing import Any

import pytest

from broker.audit.reader import AuditQuery, query_events
from broker.demo.railway import IDS
from tests.gateway.proxy.proxy_stack import RAILWAY_HOST, ProxyStack
from tests.support.servers import HOST

READ = json.dumps(
    {"query": "query($id: String!) { project(id: $id) { name } }", "variables": {"id": IDS.shop}}
)
JSON = {"Content-Type": "application/json"}


def tunnel(
    px: ProxyStack, token: str, *, alpn: list[str] | None = None
) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(px.ca_file))
    if alpn:
        context.set_alpn_protocols(alpn)
    conn = http.client.HTTPSConnection(HOST, px.proxy_port, context=context, timeout=15)
    basic = base64.b64encode(f"capbroker:{token}".encode()).decode()
    conn.set_tunnel(RAILWAY_HOST, 443, headers={"Proxy-Authorization": f"Basic {basic}"})
    return conn


def post(conn: http.client.HTTPSConnection, body: str, **headers: str) -> tuple[int, Any]:
    conn.request("POST", "/graphql/v2", body=body, headers={**JSON, **headers})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_many_requests_share_one_tunnel_and_tls_session(px: ProxyStack) -> None:
    conn = tunnel(px, px.token(), alpn=["h2", "http/1.1"])
    status, body = post(conn, READ)
    assert status == 200, body
    sock = conn.sock
    assert isinstance(sock, ssl.SSLSocket)
    assert sock.selected_alpn_protocol() == "http/1.1"  # an h2 client falls back
    for _ in range(5):
        status, body = post(conn, READ)
        assert status == 200, body
        assert body["data"]["project"]["name"] == "shop"
    assert conn.sock is sock  # the same connection carried every request
    conn.close()


def test_the_tunnel_token_may_come_again_in_authorization_but_no_other(px: ProxyStack) -> None:
    token, other = px.token(), px.token()
    conn = tunnel(px, token)
    status, body = post(conn, READ, Authorization=f"Bearer {token}")
    assert status == 200, body
    px.reset()
    status, body = post(conn, READ, Authorization=f"Bearer {other}")
    assert (status, body["code"]) == (403, "token_invalid"), body
    assert px.seen() == []  # refused before anything reached the replica
    conn.close()


def test_a_request_for_another_host_in_the_tunnel_is_refused(px: ProxyStack) -> None:
    conn = tunnel(px, px.token())
    status, body = post(conn, READ, Host="api.github.com")
    assert (status, body.get("refusal")) == (400, "host_mismatch"), body
    assert px.seen() == []
    conn.close()


def test_a_token_revoked_mid_tunnel_is_refused_on_the_next_request(px: ProxyStack) -> None:
    token = px.token()
    conn = tunnel(px, token)
    assert post(conn, READ)[0] == 200
    caller = px.services.authenticate(px.agent, kind="agent")
    assert px.services.issuance.revoke(caller, token)
    deadline = time.monotonic() + 3
    while (answer := post(conn, READ))[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert answer == (403, answer[1])
    assert answer[1]["code"] == "token_revoked"
    conn.close()


def test_an_upgrade_in_the_tunnel_is_refused_and_audited(px: ProxyStack) -> None:
    conn = tunnel(px, px.token())
    status, body = post(conn, READ, Upgrade="websocket", Connection="Upgrade")
    assert (status, body.get("refusal")) == (400, "upgrade_not_supported"), body
    assert px.seen() == []
    with px.services.db.read() as db:
        events = query_events(db, AuditQuery(type="gateway.decision", limit=1))
    assert events[0]["data"]["refusal"] == "upgrade_not_supported"
    assert events[0]["data"]["provider"] == "railway"


@pytest.mark.parametrize("target", ["api.github.com:443", f"{RAILWAY_HOST}:80"])
def test_connect_to_a_host_or_port_not_named_is_refused(px: ProxyStack, target: str) -> None:
    conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
    basic = base64.b64encode(f"capbroker:{px.token()}".encode()).decode()
    conn.request("CONNECT", target, headers={"Proxy-Authorization": f"Basic {basic}"})
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 403
    assert (body["code"], body["refusal"]) == ("unknown_route", "host_not_allowed")
    assert px.seen() == []


def test_a_connect_without_proxy_credentials_is_answered_407_as_a_problem(
    px: ProxyStack,
) -> None:
    conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
    conn.request("CONNECT", f"{RAILWAY_HOST}:443")
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 407
    assert response.getheader("Proxy-Authenticate") == 'Basic realm="capbroker"'
    assert response.getheader("Content-Type") == "application/problem+json"
    assert (body["status"], body["code"]) == (407, "unauthenticated")
    assert px.seen() == []


def test_an_absolute_form_target_in_the_tunnel_is_refused(px: ProxyStack) -> None:
    conn = tunnel(px, px.token())
    conn.request("POST", f"https://{RAILWAY_HOST}/graphql/v2", body=READ, headers=JSON)
    response = conn.getresponse()
    assert response.status == 400
    assert json.loads(response.read())["refusal"] == "malformed_http"
    assert px.seen() == []


def test_an_https_url_sent_to_the_proxy_itself_is_refused_and_audited(px: ProxyStack) -> None:
    # plain http:// URLs are proxied (test_passthrough_and_plain.py); https:// needs CONNECT
    conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
    basic = base64.b64encode(f"capbroker:{px.token()}".encode()).decode()
    conn.request(
        "POST",
        f"https://{RAILWAY_HOST}/graphql/v2",
        body=READ,
        headers={**JSON, "Proxy-Authorization": f"Basic {basic}"},
    )
    response = conn.getresponse()
    assert response.status == 400
    assert json.loads(response.read())["refusal"] == "proxy_method_not_supported"
    assert px.seen() == []
    with px.services.db.read() as db:
        [event] = query_events(db, AuditQuery(type="gateway.decision", limit=1))
    assert event["data"]["refusal"] == "proxy_method_not_supported"


def test_a_connect_with_a_revoked_token_is_refused_403_and_audited(px: ProxyStack) -> None:
    token = px.token()
    caller = px.services.authenticate(px.agent, kind="agent")
    assert px.services.issuance.revoke(caller, token)
    basic = base64.b64encode(f"capbroker:{token}".encode()).decode()
    deadline = time.monotonic() + 3
    while True:
        conn = http.client.HTTPConnection(HOST, px.proxy_port, timeout=15)
        conn.request(
            "CONNECT", f"{RAILWAY_HOST}:443", headers={"Proxy-Authorization": f"Basic {basic}"}
        )
        response = conn.getresponse()
        body = json.loads(response.read()) if response.status != 200 else {}
        conn.close()
        if response.status == 403 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (response.status, body.get("code")) == (403, "token_revoked")
    with px.services.db.read() as db:
        [event] = query_events(db, AuditQuery(type="gateway.decision", limit=1))
    assert event["subject"] == f"railway:CONNECT {RAILWAY_HOST}:443"
    assert px.seen() == []
