"""Route maps: load, validate and compile them; classify a request into calls.

Pure: no I/O here but reading map files. The gateway canonicalises the request
(``canonical_request``), classifies it (``classify``), resolves every call's
environment sources (lookups through ``Lookup.request``/``Lookup.extract``,
inventory, ids) and authorizes every call.
"""

from broker.routemap.canonical import CanonicalRequest, PathOptions, canonical_request
from broker.routemap.classify import classify
from broker.routemap.compile import load_route_map, parse_route_map, shipped_map
from broker.routemap.errors import refusal_code
from broker.routemap.gql import classify_graphql
from broker.routemap.lookups import Lookup, LookupRequest
from broker.routemap.model import (
    UNSCOPED,
    Call,
    Classification,
    EnvById,
    EnvFixed,
    EnvInventory,
    EnvLookup,
    EnvName,
    EnvSource,
    FieldCall,
    LookupCall,
    Unscoped,
)
from broker.routemap.routemap import RestRule, RouteMap

__all__ = [
    "UNSCOPED",
    "Call",
    "CanonicalRequest",
    "Classification",
    "EnvById",
    "EnvFixed",
    "EnvInventory",
    "EnvLookup",
    "EnvName",
    "EnvSource",
    "FieldCall",
    "Lookup",
    "LookupCall",
    "LookupRequest",
    "PathOptions",
    "RestRule",
    "RouteMap",
    "Unscoped",
    "canonical_request",
    "classify",
    "classify_graphql",
    "load_route_map",
    "parse_route_map",
    "refusal_code",
    "shipped_map",
]
