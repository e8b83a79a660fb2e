"""A compiled route map: rules indexed for matching, call specs ready to fill.

Built only by ``broker.routemap.compile`` from a validated document; every
cross-reference (actions, lookups, template parameters) is known good here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from broker.routemap.allowlist import NOTHING_ELSE, SAFE_ONLY, Accepts, HeaderAllowlist
from broker.routemap.canonical import PathOptions
from broker.routemap.errors import BAD_VALUE, bad_request, unknown_route
from broker.routemap.lookups import Lookup
from broker.routemap.model import (
    UNSCOPED,
    Call,
    EnvById,
    EnvFixed,
    EnvInventory,
    EnvLookup,
    EnvName,
    EnvSource,
    LookupCall,
    OperationType,
)
from broker.routemap.paths import PathIndex, PathTemplate
from broker.routemap.templates import Resolver, Template
from broker.routemap.values import check_resource

RESOURCE_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))  # as broker.domain.templates
MAX_RESOURCE_LENGTH = 256
EnvKind = Literal["name", "environment_id", "lookup", "inventory", "fixed", "unscoped"]


@dataclass(frozen=True, slots=True)
class EnvSpec:
    """One environment source as written in the map, before the request fills it."""

    kind: EnvKind
    template: Template | None = None  # name / environment_id / inventory
    lookup: str | None = None  # lookup
    bindings: tuple[tuple[str, Template], ...] = ()  # lookup "with"
    names: tuple[str, ...] = ()  # fixed

    def fill(self, resolve: Resolver, route_map: RouteMap) -> EnvSource:
        if self.kind == "unscoped":
            return UNSCOPED
        if self.kind == "fixed":
            return EnvFixed(self.names)
        if self.kind == "lookup":
            assert self.lookup is not None
            params = tuple(sorted((k, t.fill(resolve)) for k, t in self.bindings))
            ids_via = (
                route_map.environment_ids
                if route_map.lookups[self.lookup].yields == "environment_ids"
                else None
            )
            return EnvLookup(LookupCall(self.lookup, params), ids_via)
        assert self.template is not None
        value = self.template.fill(resolve)
        if self.kind == "name":
            return EnvName(value)
        if self.kind == "inventory":
            return EnvInventory(value)
        via = route_map.environment_ids
        assert via is not None
        (param,) = route_map.lookups[via].params
        return EnvById(value, LookupCall(via, ((param, value),)))


@dataclass(frozen=True, slots=True)
class CallSpec:
    action: str
    effect: str
    resources: tuple[Template, ...]
    environments: tuple[EnvSpec, ...]

    def fill(self, resolve: Resolver, route_map: RouteMap) -> Call:
        resources = tuple(_resource(t.fill(resolve), route_map) for t in self.resources)
        envs = tuple(dict.fromkeys(s.fill(resolve, route_map) for s in self.environments))
        return Call(self.action, self.effect, resources, envs)

    def templates(self) -> list[Template]:
        """Every template of the call: resources, environment sources, lookup bindings."""
        out = list(self.resources)
        for env in self.environments:
            if env.template is not None:
                out.append(env.template)
            out.extend(t for _, t in env.bindings)
        return out


def _resource(value: str, route_map: RouteMap) -> str:
    if not 0 < len(value) <= MAX_RESOURCE_LENGTH or not set(value) <= RESOURCE_CHARS:
        raise bad_request(BAD_VALUE, "a resource must be 1 to 256 printable ASCII characters")
    return check_resource(value, route_map.resource_types)


@dataclass(frozen=True, slots=True)
class RestRule:
    method: str
    template: PathTemplate
    call: CallSpec
    uses_body: bool  # the body is read whole before classifying (``accepts.reads_body``)
    index: int  # position in spec.rest
    accepts: Accepts = NOTHING_ELSE  # query parameters and body it takes (allowlist.py)

    @property
    def label(self) -> str:
        return f"{self.method} {self.template.text}"


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    document_bytes: int = 16384
    tokens: int = 2000
    depth: int = 12
    root_fields: int = 32
    batch: int = 10


@dataclass(frozen=True, slots=True)
class GraphQLSpec:
    endpoint: PathTemplate
    fields: Mapping[OperationType, Mapping[str, CallSpec]]
    introspection: CallSpec | None = None
    limits: GraphQLLimits = GraphQLLimits()


Route = RestRule | GraphQLSpec


@dataclass(frozen=True, slots=True)
class AuthSpec:
    header: str
    format: str  # contains "{key}" exactly once


@dataclass(frozen=True, slots=True)
class BodySpec:
    max_bytes: int = 1 << 20
    content_types: frozenset[str] = frozenset({"application/json"})


@dataclass(frozen=True, slots=True, eq=False)
class RouteMap:
    name: str
    provider: str
    upstream: str
    auth: AuthSpec
    paths: PathOptions
    body: BodySpec
    actions: Mapping[str, str]  # action -> effect
    lookups: Mapping[str, Lookup]
    environment_ids: str | None  # the lookup that turns an environment id into its name
    inventory: Mapping[str, tuple[str, ...]]
    rest: tuple[RestRule, ...]
    graphql: GraphQLSpec | None
    source: str
    _index: Mapping[str, PathIndex[Route]] = field(repr=False)
    headers: HeaderAllowlist = SAFE_ONLY  # what the provider may receive
    resource_types: Mapping[str, re.Pattern[str]] = field(default_factory=dict)  # values.py

    def match(self, method: str, segments: tuple[str, ...]) -> tuple[Route, dict[str, str]]:
        """The one route for ``method`` and the canonical ``segments``, or ``unknown_route``.

        HEAD uses the GET rules (it is a GET without the body).
        """
        index = self._index.get("GET" if method == "HEAD" else method)
        found = index.match(segments) if index is not None else []
        if len(found) != 1:  # more than one cannot happen: the loader refuses overlaps
            raise unknown_route(f"no rule of {self.provider} matches {method} this path")
        return found[0]

    def inventory_environments(self, key: str) -> tuple[str, ...] | None:
        """The map's static inventory entry for ``key`` (the gateway may add its own)."""
        return self.inventory.get(key)
