"""Ordinary calls still pass the allowlists (issue 14: no false refusals), through the real
gateway: what the map declares arrives, and only that."""

from __future__ import annotations

import json

from tests.gateway.gateway_support import agent_fields_executed, raw_request
from tests.support.stack import ECHO, Stack


def test_typename_alone_is_harmless(shared_stack: Stack) -> None:
    r = shared_stack.call(shared_stack.token(), "{ __typename }")
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"__typename": "Query"}
    r = shared_stack.call(shared_stack.token(), "{ ...F } fragment F on Query { t: __typename }")
    assert r.status_code == 200, r.text


def test_typename_in_selections_is_harmless(shared_stack: Stack) -> None:
    query = 'query Q { __typename services(projectId: "proj-acme") { __typename id } }'
    r = shared_stack.call(shared_stack.token(), query)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["services"][0] == {"__typename": "Service", "id": "svc-api"}
    assert sorted(agent_fields_executed(shared_stack.upstream_log())) == ["__typename", "services"]


def test_variables_all_used_pass(shared_stack: Stack) -> None:
    query = "query($p: ID!) { services(projectId: $p) { id } }"
    r = shared_stack.call(shared_stack.token(), query, {"p": "proj-acme"})
    assert r.status_code == 200, r.text


def test_declared_query_headers_and_fields_arrive(shared_stack: Stack) -> None:
    token = shared_stack.echo_token()
    body = json.dumps({"name": "widget", "environment": "staging", "note": "hi"}).encode()
    headers = [
        ("Authorization", f"Bearer {token}"),
        ("Content-Type", "application/json"),
        ("If-None-Match", '"abc"'),
        ("Accept", "application/json"),
        ("X-Debug", "1"),
        ("Content-Length", str(len(body))),
    ]
    r = raw_request(shared_stack.url, "POST", f"/{ECHO}/echo?dry=1", headers, body)
    assert r.status == 200, r.body[:300]
    report = r.json()
    assert report["query"] == "dry=1"
    sent = dict((k, v) for k, v in report["headers"])
    assert sent["if-none-match"] == '"abc"'
    assert sent["accept"] == "application/json"
    assert "x-debug" not in sent  # undeclared: dropped, not refused
    assert report["body_length"] == len(body)


def test_a_declared_read_with_paging_passes(shared_stack: Stack) -> None:
    token = shared_stack.echo_token()
    r = raw_request(
        shared_stack.url,
        "GET",
        f"/{ECHO}/echo?page=2&per_page=100&q=a%20b",
        [("Authorization", f"Bearer {token}")],
    )
    assert r.status == 200, r.body[:300]
    assert r.json()["query"] == "page=2&per_page=100&q=a%20b"
