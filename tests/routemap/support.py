"""Helpers shared by the route map tests: the shipped maps and a one-call classifier."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from broker.routemap import Classification, RouteMap, canonical_request, classify, shipped_map


@cache
def demo() -> RouteMap:
    return shipped_map("railway-demo")


@cache
def github() -> RouteMap:
    return shipped_map("github")


def run(
    route_map: RouteMap,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Any = (),
    body: bytes = b"",
) -> Classification:
    request = canonical_request(method, path, query, headers, options=route_map.paths)
    return classify(route_map, request, body)


def gql(route_map: RouteMap, payload: object) -> Classification:
    body = json.dumps(payload).encode()
    return run(
        route_map, "POST", "/graphql", headers={"Content-Type": "application/json"}, body=body
    )
