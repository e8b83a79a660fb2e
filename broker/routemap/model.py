"""What classification hands the gateway: frozen, plain values.

A ``Call`` says what one unit of work does (the action and its effect), which
resources it touches and where the environments it touches come from. REST
requests give one call; a GraphQL request gives one per root field of every
operation in every batched entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Effect = Literal["read", "write", "destructive"]
EFFECT_ORDER: dict[str, int] = {"read": 0, "write": 1, "destructive": 2}
OperationType = Literal["query", "mutation", "subscription"]


@dataclass(frozen=True, slots=True)
class LookupCall:
    """An upstream query the gateway makes itself, with the master key.

    ``name`` is a key of ``RouteMap.lookups``; ``params`` are the filled values
    (sorted by name). ``Lookup.request``/``Lookup.extract`` do the pure halves.
    """

    name: str
    params: tuple[tuple[str, str], ...]

    def param_dict(self) -> dict[str, str]:
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class EnvName:
    """The request itself names the environment (e.g. GitHub's ``environment_name``)."""

    name: str


@dataclass(frozen=True, slots=True)
class EnvById:
    """The request carries an environment id; ``lookup`` turns it into exactly one name."""

    environment_id: str
    lookup: LookupCall


@dataclass(frozen=True, slots=True)
class EnvLookup:
    """The environments are whatever ``lookup`` returns.

    When ``ids_via`` is set the lookup yields environment ids, and each one is
    turned into a name with that lookup (called with its single parameter).
    """

    lookup: LookupCall
    ids_via: str | None = None


@dataclass(frozen=True, slots=True)
class EnvInventory:
    """The admin-kept inventory maps ``key`` to environments (missing key: unresolved)."""

    key: str


@dataclass(frozen=True, slots=True)
class EnvFixed:
    """The map states the environments outright."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unscoped:
    """The call touches nothing environment-specific: the gateway skips the check."""


@dataclass(frozen=True, slots=True)
class Unresolvable:
    """The map knows the call touches environments it cannot place: always refused."""

    why: str


EnvSource = EnvName | EnvById | EnvLookup | EnvInventory | EnvFixed | Unscoped | Unresolvable
UNSCOPED = Unscoped()


@dataclass(frozen=True, slots=True)
class RelationCheck:
    """A relation the call asserts and the gateway proves before it acts on it.

    ``lookup``'s values must contain ``expected`` (the backup named belongs to the
    instance named); otherwise the call is refused with ``reason``.
    """

    lookup: LookupCall
    expected: str
    reason: str


@dataclass(frozen=True, slots=True)
class Call:
    action: str
    effect: str  # read | write | destructive
    resources: tuple[str, ...]
    environments: tuple[EnvSource, ...]  # never empty; (UNSCOPED,) when unscoped
    checks: tuple[RelationCheck, ...] = ()

    @property
    def unscoped(self) -> bool:
        return self.environments == (UNSCOPED,)


@dataclass(frozen=True, slots=True)
class FieldCall:
    """One GraphQL root field (or a declared nested field), classified by its name (never
    its alias). A nested field's ``field`` is its path of names from the root field."""

    operation: OperationType
    field: str
    call: Call
    batch_index: int = 0  # position in a batched array (0 for a single request)
    operation_name: str | None = None

    @property
    def root(self) -> bool:
        return "." not in self.field


@dataclass(frozen=True, slots=True)
class Classification:
    kind: Literal["rest", "graphql"]
    calls: tuple[Call, ...]  # what the gateway authorizes: every one must be allowed
    rule: str = ""  # REST: "METHOD /template"; GraphQL: the endpoint
    fields: tuple[FieldCall, ...] = ()  # GraphQL only, in document order

    @property
    def effect(self) -> str:
        """The strongest effect of any call."""
        return max((c.effect for c in self.calls), key=EFFECT_ORDER.__getitem__)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(c.action for c in self.calls)
