"""Call specs: what a map says one rule or field does, before a request fills it in.

A ``CallSpec`` is the compiled form of ``action``/``resources``/``environment`` (plus
``when`` cases, relation ``checks`` and, for GraphQL root fields, ``nested`` rules).
``fill`` turns it into a ``Call`` for one request; everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from broker.errors import Denied, Reason
from broker.routemap.errors import BAD_VALUE, MISSING_VALUE, ROUTE_REFUSED, bad_request
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
    RelationCheck,
    Unresolvable,
)
from broker.routemap.templates import MISSING, Resolver, Template
from broker.routemap.values import check_resource

if TYPE_CHECKING:
    from broker.routemap.routemap import RouteMap

RESOURCE_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))  # as broker.domain.templates
MAX_RESOURCE_LENGTH = 256
EnvKind = Literal[
    "name", "environment_id", "lookup", "inventory", "fixed", "unscoped", "unresolvable", "first"
]


@dataclass(frozen=True, slots=True)
class Refused:
    """A field or rule the map names only to refuse, with the reason written beside it."""

    reason: str

    def refuse(self, what: str) -> Denied:
        return Denied(
            f"the route map refuses {what}: {self.reason}",
            reason=Reason.ROUTE_REFUSED,
            extra={"refusal": ROUTE_REFUSED},
        )


@dataclass(frozen=True, slots=True)
class EnvSpec:
    """One environment source as written in the map, before the request fills it."""

    kind: EnvKind
    template: Template | None = None  # name / environment_id / inventory
    lookup: str | None = None  # lookup
    bindings: tuple[tuple[str, Template], ...] = ()  # lookup "with"
    names: tuple[str, ...] = ()  # fixed; unresolvable: (why,)
    alternatives: tuple[EnvSpec, ...] = ()  # first

    def templates(self) -> list[Template]:
        out = [self.template] if self.template is not None else []
        out.extend(t for _, t in self.bindings)
        for alt in self.alternatives:
            out.extend(alt.templates())
        return out

    def can_fill(self, resolve: Resolver) -> bool:
        return all(t.can_fill(resolve) for t in self.templates())

    def fill(self, resolve: Resolver, route_map: RouteMap) -> EnvSource:
        if self.kind == "unscoped":
            return UNSCOPED
        if self.kind == "fixed":
            return EnvFixed(self.names)
        if self.kind == "unresolvable":
            return Unresolvable(self.names[0] if self.names else "")
        if self.kind == "first":
            for alt in self.alternatives:
                if alt.can_fill(resolve):
                    return alt.fill(resolve, route_map)
            wanted = " or ".join(
                "/".join(p.dotted for t in alt.templates() for p in t.placeholders) or alt.kind
                for alt in self.alternatives
            )
            raise bad_request(MISSING_VALUE, f"the request carries none of {wanted}")
        if self.kind == "lookup":
            assert self.lookup is not None
            params = tuple(sorted((k, t.fill(resolve)) for k, t in self.bindings))
            return EnvLookup(LookupCall(self.lookup, params), route_map.ids_via(self.lookup))
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
class CheckSpec:
    lookup: str
    bindings: tuple[tuple[str, Template], ...]
    contains: Template
    reason: str

    def fill(self, resolve: Resolver) -> RelationCheck:
        params = tuple(sorted((k, t.fill(resolve)) for k, t in self.bindings))
        expected = self.contains.fill(resolve)
        return RelationCheck(LookupCall(self.lookup, params), expected, self.reason)


Condition = tuple[tuple[str, ...], object]  # a dotted reference and the JSON value it must equal


@dataclass(frozen=True, slots=True)
class Case:
    """``when: [{if: {...}, action: ...}]``: a verb (and maybe resources or sources)
    chosen by argument values. ``None`` keeps the call's own."""

    conditions: tuple[Condition, ...]
    action: str
    effect: str
    resources: tuple[Template, ...] | None = None
    environments: tuple[EnvSpec, ...] | None = None

    def matches(self, resolve: Resolver) -> bool:
        return all(_equals(resolve(ref), want) for ref, want in self.conditions)


def _equals(value: object, want: object) -> bool:
    if want is None:
        return value is MISSING or value is None
    if value is MISSING:
        return False
    # JSON equality: True is not 1, and GraphQL's numbers arrive as their text.
    if isinstance(want, bool) or isinstance(value, bool):
        return isinstance(want, bool) and isinstance(value, bool) and want == value
    if isinstance(want, int | float) and isinstance(value, str):
        return value == str(want)
    return value == want


@dataclass(frozen=True, slots=True)
class CallSpec:
    action: str
    effect: str
    resources: tuple[Template, ...]
    environments: tuple[EnvSpec, ...]
    cases: tuple[Case, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    nested: Mapping[str, CallSpec | Refused] = field(default_factory=dict)

    def fill(self, resolve: Resolver, route_map: RouteMap) -> Call:
        action, effect = self.action, self.effect
        resource_templates, env_specs = self.resources, self.environments
        for case in self.cases:
            if case.matches(resolve):
                action, effect = case.action, case.effect
                if case.resources is not None:
                    resource_templates = case.resources
                if case.environments is not None:
                    env_specs = case.environments
                break
        resources = tuple(
            dict.fromkeys(
                _resource(v, route_map) for t in resource_templates for v in t.fill_each(resolve)
            )
        )
        envs = tuple(dict.fromkeys(s.fill(resolve, route_map) for s in env_specs))
        checks = tuple(c.fill(resolve) for c in self.checks)
        return Call(action, effect, resources, envs, checks)

    def templates(self) -> list[Template]:
        """Every template of the call: resources, sources, bindings, cases and checks."""
        out = list(self.resources)
        for env in self.environments:
            out.extend(env.templates())
        for case in self.cases:
            out.extend(case.resources or ())
            for env in case.environments or ():
                out.extend(env.templates())
        for check in self.checks:
            out.extend(t for _, t in check.bindings)
            out.append(check.contains)
        return out

    def references(self) -> set[tuple[str, ...]]:
        """Every dotted reference the call reads (templates and ``when`` conditions)."""
        refs = {p.ref for t in self.templates() for p in t.placeholders}
        refs.update(ref for case in self.cases for ref, _ in case.conditions)
        return refs


def _resource(value: str, route_map: RouteMap) -> str:
    if not 0 < len(value) <= MAX_RESOURCE_LENGTH or not set(value) <= RESOURCE_CHARS:
        raise bad_request(BAD_VALUE, "a resource must be 1 to 256 printable ASCII characters")
    return check_resource(value, route_map.resource_types)  # spec.resource_types (values.py)
