"""``classify``: a canonical request and its body -> what the call does, per the map."""

from __future__ import annotations

from broker.routemap import errors as e
from broker.routemap.allowlist import check_query, rest_body
from broker.routemap.callspec import Refused
from broker.routemap.canonical import CanonicalRequest
from broker.routemap.gql import classify_graphql
from broker.routemap.model import Classification
from broker.routemap.routemap import GraphQLSpec, Route, RouteMap
from broker.routemap.templates import MISSING, dig
from broker.routemap.values import TrustedValue


def classify(
    route_map: RouteMap,
    request: CanonicalRequest,
    body: bytes = b"",
    *,
    matched: tuple[Route, dict[str, str]] | None = None,
) -> Classification:
    """The classification of one request, or a refusal (``InvalidRequest``, 413, 415, ``Denied``).

    ``body`` is the whole request body; the gateway stops reading at
    ``route_map.body.max_bytes + 1`` bytes and passes what it read. ``matched``:
    ``route_map.match`` of this request, when the caller already has it.
    """
    if len(body) > route_map.body.max_bytes:
        raise e.too_large(f"the body is larger than {route_map.body.max_bytes} bytes")
    if request.method in ("GET", "HEAD") and body:
        raise e.bad_request(e.BODY_NOT_ALLOWED, f"a {request.method} request carries no body")
    route, params = matched or route_map.match(request.method, request.segments)
    if isinstance(route, GraphQLSpec):
        return classify_graphql(
            route_map, request.method, request.query, request.content_type, body
        )
    if isinstance(route.call, Refused):
        raise route.call.refuse(route.label)
    check_query(route.accepts, request.query)  # the allowlists (allowlist.py)
    parsed = rest_body(route.accepts, request.content_type, route_map.body.content_types, body)

    def resolve(ref: tuple[str, ...]) -> object:
        if ref[0] == "body" and len(ref) > 1:
            return dig(parsed, ref[1:])
        if len(ref) == 1 and ref[0] in params:
            return TrustedValue(params[ref[0]])  # canonical segments: a {path+} keeps its '/'
        return MISSING

    call = route.call.fill(resolve, route_map)
    return Classification("rest", (call,), route.label)
