"""The attack corpus (corpus/attacks.yaml): every attempt is refused with its code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.errors import BrokerError
from broker.routemap import refusal_code

from .support import demo, github, run

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus" / "attacks.yaml").read_text())


def _body(case: dict[str, Any], headers: dict[str, str] | list[Any]) -> bytes:
    payload: object = None
    if "json" in case:
        payload = case["json"]
    elif "json_repeat" in case:
        payload = [case["json_repeat"]["item"]] * case["json_repeat"]["times"]
    elif "json_query_repeat" in case:
        spec = case["json_query_repeat"]
        parts = [
            spec["text"] % i if spec.get("number") else spec["text"] for i in range(spec["times"])
        ]
        payload = {"query": spec.get("wrap", "{ %s }") % "".join(parts)}
    elif "json_query_nest" in case:
        depth = case["json_query_nest"]["depth"]
        payload = {"query": "{ projects " + "{ id " * depth + "}" * (depth + 1)}
    if payload is not None:
        if isinstance(headers, dict):
            headers.setdefault("Content-Type", "application/json")
        return json.dumps(payload).encode()
    if "body_size" in case:
        return b"x" * int(case["body_size"])
    if "body_nest" in case:
        return b"[" * int(case["body_nest"])
    return str(case.get("body", "")).encode()


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_attack(case: dict[str, Any]) -> None:
    route_map = demo() if case["map"] == "railway-demo" else github()
    raw_headers = case.get("headers", {})
    headers = (
        [tuple(h) for h in raw_headers] if isinstance(raw_headers, list) else dict(raw_headers)
    )
    body = _body(case, headers)
    if "allow" in case:
        result = run(
            route_map,
            case["method"],
            case["path"],
            query=case.get("query", ""),
            headers=headers,
            body=body,
        )
        assert sorted(result.actions) == sorted(case["allow"])
        return
    with pytest.raises(BrokerError) as caught:
        run(
            route_map,
            case["method"],
            case["path"],
            query=case.get("query", ""),
            headers=headers,
            body=body,
        )
    assert refusal_code(caught.value) == case["expect"], caught.value.detail


def test_corpus_covers_every_kind_of_attack() -> None:
    codes = {c.get("expect") for c in CORPUS}
    assert len(CORPUS) >= 80
    assert {
        "ambiguous_encoding",
        "invalid_utf8",
        "path_traversal",
        "method_override",
        "mutation_over_get",
        "unknown_route",
        "graphql_too_deep",
        "graphql_too_large",
        "ambiguous_operation",
        "unsupported_media_type",
        "body_too_large",
        # issue 14: allowlists, strict JSON, values, schema-less GraphQL validation
        "undeclared_parameter",
        "undeclared_field",
        "duplicate_parameter",
        "body_not_allowed",
        "invalid_json",
        "bad_value",
        "graphql_invalid",
        "fragment_error",
    } <= codes
