"""A compiled route map: rules indexed for matching, call specs ready to fill.

Built only by ``broker.routemap.compile`` from a validated document; every
cross-reference (actions, lookups, template parameters) is known good here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.routemap.allowlist import NOTHING_ELSE, SAFE_ONLY, Accepts, HeaderAllowlist
from broker.routemap.callspec import CallSpec, Refused
from broker.routemap.canonical import PathOptions
from broker.routemap.errors import unknown_route
from broker.routemap.lookups import Lookup
from broker.routemap.model import OperationType
from broker.routemap.paths import PathIndex, PathTemplate


@dataclass(frozen=True, slots=True)
class RestRule:
    method: str
    template: PathTemplate
    call: CallSpec | Refused
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
    fields: Mapping[OperationType, Mapping[str, CallSpec | Refused]]
    introspection: CallSpec | None = None
    limits: GraphQLLimits = GraphQLLimits()
    nested: Mapping[str, CallSpec | Refused] = field(default_factory=dict)  # any depth


Route = RestRule | GraphQLSpec


@dataclass(frozen=True, slots=True)
class AuthSpec:
    header: str
    format: str  # contains "{key}" exactly once


@dataclass(frozen=True, slots=True)
class EnvironmentIdentity:
    """How the provider names an environment uniquely: ``parts`` '/'-separated parts,
    the last the environment's own name, the others its owner (``qualified_by``)."""

    qualified_by: str | None = None
    parts: int = 1


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
    auth_alternatives: Mapping[str, AuthSpec]  # other ways a key is injected, by name
    environments: EnvironmentIdentity
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

    def ids_via(self, lookup: str) -> str | None:
        """The lookup that turns ``lookup``'s values (environment ids) into environments."""
        return self.environment_ids if self.lookups[lookup].yields == "environment_ids" else None

    def auth_for(self, name: str | None) -> AuthSpec:
        """The key injection named by a provider's configuration (None: the default)."""
        return self.auth if name is None else self.auth_alternatives[name]

    def auth_headers(self) -> frozenset[str]:
        """Every header a key may travel in (lower case): never forwarded from an agent."""
        specs = (self.auth, *self.auth_alternatives.values())
        return frozenset(a.header.lower() for a in specs)

    def inventory_environments(self, key: str) -> tuple[str, ...] | None:
        """The map's static inventory entry for ``key`` (the gateway may add its own)."""
        return self.inventory.get(key)
