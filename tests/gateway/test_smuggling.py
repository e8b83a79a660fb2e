"""The smuggling corpus (corpus.yaml) sent through the real gateway over a raw socket.

Every case must come back as problem+json with the contract code the corpus names, and
nothing may have reached the upstream. The upstreams are permissive
(tests/support/permissive_upstream.py): one sits in front of the demo provider and relays
what a lenient framework would understand (method overrides honoured, header names
folded, JSON keys matched in any case, truncated bodies taken whole), and one serves the
permissive REST provider. So "the upstream ignores it" is never why a case passes: the
permissive upstream must have received nothing, or (for cases where the gateway first
asks the provider itself which environments a volume belongs to) only the gateway's own
look-ups, and the demo provider behind it must have executed none of the agent's fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gateway.gateway_support import (
    CONTRACT_CODES,
    agent_fields_executed,
    assert_problem,
    chunked,
    raw_request,
)
from tests.support.permissive_upstream import Received
from tests.support.stack import PERMISSIVE, PROVIDER, Stack

CORPUS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "corpus.yaml").read_text(encoding="utf-8")
)
APP_CASES = [c for c in CORPUS if c.get("layer") != "http"]
HTTP_CASES = [c for c in CORPUS if c.get("layer") == "http"]


def _payload(case: dict[str, Any]) -> tuple[bytes, bool]:
    """The body bytes, and whether they are JSON (so Content-Type defaults to JSON)."""
    value: object = None
    if "json" in case:
        value = case["json"]
    elif "json_repeat" in case:
        value = [case["json_repeat"]["item"]] * case["json_repeat"]["times"]
    elif "query_repeat" in case:
        spec = case["query_repeat"]
        parts = [
            spec["text"] % i if spec.get("number") else spec["text"] for i in range(spec["times"])
        ]
        value = {"query": spec.get("wrap", "{ %s }") % "".join(parts)}
    elif "query_nest" in case:
        depth = case["query_nest"]["depth"]
        value = {"query": "{ projects " + "{ id " * depth + "}" * (depth + 1)}
    if value is not None:
        return json.dumps(value).encode(), True
    if "body_size" in case:
        return b"x" * int(case["body_size"]), True
    if "json_nest" in case:
        return b"[" * int(case["json_nest"]), True
    return str(case.get("body", "")).encode(), "body" in case


def _provider(case: dict[str, Any]) -> str:
    return str(case.get("provider", PROVIDER))


def _target(case: dict[str, Any]) -> str:
    if "provider_path" in case:
        target = str(case["provider_path"])
    elif "path_repeat" in case:
        target = f"/{_provider(case)}" + case["path_repeat"]["text"] * case["path_repeat"]["times"]
    else:
        target = f"/{_provider(case)}{case['path']}"
    return target + (f"?{case['query']}" if case.get("query") else "")


def _headers(case: dict[str, Any], token: str, body: bytes, is_json: bool) -> list[tuple[str, str]]:
    auth = case.get("auth", "token")
    headers: list[tuple[str, str]] = []
    if auth in ("token", "twice"):
        headers.append(("Authorization", f"Bearer {token}"))
    if auth == "twice":
        headers.append(("Authorization", f"Bearer {token}"))
    if auth == "basic":
        headers.append(("Authorization", "Basic YWdlbnQ6c2VjcmV0"))
    own = [(str(k), str(v).replace("{len}", str(len(body)))) for k, v in case.get("headers", [])]
    framing = case.get("framing", "length")
    has_type = any(k.lower() == "content-type" for k, _ in own)
    if is_json and not has_type and case.get("content_type") != "none" and framing != "raw":
        headers.append(("Content-Type", "application/json"))
    headers.extend(own)
    if framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    elif framing == "length" and (body or case["method"] in ("POST", "PUT")):
        headers.append(("Content-Length", str(len(body))))
    return headers


def send_case(stack: Stack, case: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    body, is_json = _payload(case)
    token = stack.permissive_token() if _provider(case) == PERMISSIVE else stack.token()
    headers = _headers(case, token, body, is_json)
    framed: bytes | list[bytes] = body
    if case.get("framing") == "chunked":
        framed = chunked(*(body[i : i + 65536] for i in range(0, len(body), 65536)))
    r = raw_request(stack.url, case["method"], _target(case), headers, framed)
    return r.status, r.headers, r.body


def assert_nothing_executed(stack: Stack, case: dict[str, Any]) -> None:
    """Neither permissive upstream received the agent's request, and the demo provider
    behind the relaying one executed none of the agent's fields."""
    assert stack.permissive is not None
    assert stack.demo_front is not None
    assert stack.permissive.received() == [], "the permissive provider was reached"
    front = stack.demo_front.received()
    log = stack.upstream_log()
    if not case.get("lookups"):
        assert front == [], f"the permissive upstream was reached: {front}"
        assert log == [], f"the provider was reached: {log}"
    assert all(_is_gateway_lookup(r) for r in front), front
    assert len(log) == len(front), (front, log)  # the relay passed on all it was given
    assert agent_fields_executed(log) == [], log
    assert all(e["method"] == "POST" and e["path"] == "/graphql" for e in log), log


def _is_gateway_lookup(received: Received) -> bool:
    """What the gateway's own look-ups look like to the permissive upstream: a complete
    POST /graphql with no override and nothing the agent sent."""
    return (
        received.complete
        and received.effective_method == "POST" == received.method
        and received.override is None
        and received.target == "/graphql"
        and received.header("content-type") == "application/json"
        and all(not k.startswith("x-") for k, _ in received.effective_headers)
    )


@pytest.mark.parametrize("case", APP_CASES, ids=[c["name"] for c in APP_CASES])
def test_attack_is_refused_and_reaches_nobody(
    permissive_stack: Stack, case: dict[str, Any]
) -> None:
    status, headers, body = send_case(permissive_stack, case)
    expect = case["expect"]
    problem = assert_problem(
        status, headers, body, expect_status=expect["status"], code=expect["code"]
    )
    if "refusal" in expect:
        assert problem.get("refusal") == expect["refusal"], problem
    assert_nothing_executed(permissive_stack, case)


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["name"] for c in HTTP_CASES])
def test_malformed_framing_is_refused_as_a_problem(
    permissive_stack: Stack, case: dict[str, Any]
) -> None:
    """Requests the HTTP parser rejects before the gateway app runs (two Content-Lengths,
    Content-Length with Transfer-Encoding, a lower-case method): nothing may be forwarded,
    and the answer must still be the contract's problem+json."""
    status, headers, body = send_case(permissive_stack, case)
    assert_nothing_executed(permissive_stack, case)
    assert status == case["expect"]["status"], body[:200]
    assert_problem(
        status, headers, body, expect_status=case["expect"]["status"], code=case["expect"]["code"]
    )


def test_a_near_miss_of_the_corpus_goes_through(permissive_stack: Stack) -> None:
    """The same raw client and framing carry an honest request through the permissive
    upstream to the provider, so the refusals above are the gateway's doing, not the
    test's (nor the relay's)."""
    stack = permissive_stack
    assert stack.demo_front is not None
    case: dict[str, Any] = {
        "method": "POST",
        "path": "/graphql",
        "json": {"query": '{ services(projectId: "proj-acme") { id } }'},
    }
    status, _, body = send_case(stack, case)
    assert status == 200, body[:300]
    assert json.loads(body)["data"]["services"][0]["id"] == "svc-api"
    assert agent_fields_executed(stack.upstream_log()) == ["services"]
    [seen] = stack.demo_front.received()
    assert (seen.complete, seen.effective_method, seen.override) == (True, "POST", None)
    case["framing"] = "chunked"
    status, _, body = send_case(stack, case)
    assert status == 200, body[:300]


def test_a_near_miss_reaches_the_permissive_provider(permissive_stack: Stack) -> None:
    """An honest call to the REST map gets through to the permissive upstream, whole."""
    assert permissive_stack.permissive is not None
    case = {
        "provider": PERMISSIVE,
        "method": "POST",
        "path": "/items",
        "json": {"name": "a", "environment": "staging"},
    }
    status, _, body = send_case(permissive_stack, case)
    assert status == 200, body[:300]
    [seen] = permissive_stack.permissive.received()
    assert (seen.method, seen.effective_method, seen.override) == ("POST", "POST", None)
    assert (seen.complete, seen.json) == (True, {"name": "a", "environment": "staging"})


def test_the_corpus_is_well_formed() -> None:
    names = [c["name"] for c in CORPUS]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CORPUS) >= 80
    for case in CORPUS:
        assert case["expect"]["code"] in CONTRACT_CODES, case["name"]
    refusals = {c["expect"].get("refusal") for c in CORPUS}
    assert {
        "path_traversal",
        "ambiguous_encoding",
        "invalid_utf8",
        "control_character",
        "invalid_path",
        "method_override",
        "method_not_allowed",
        "content_encoding",
        "invalid_json",
        "ambiguous_operation",
        "operation_not_found",
        "mutation_over_get",
        "graphql_too_large",
        "graphql_too_deep",
        "missing_variable",
        "persisted_query",
        "upgrade_not_supported",
        # issue 14: allowlists, strict JSON, schema-less validation, values
        "ambiguous_header",
        "undeclared_parameter",
        "undeclared_field",
        "duplicate_parameter",
        "graphql_invalid",
        "fragment_error",
        "bad_value",
    } <= refusals
    providers = {c.get("provider", PROVIDER) for c in CORPUS}
    assert providers == {PROVIDER, PERMISSIVE}  # a GraphQL and a REST provider
