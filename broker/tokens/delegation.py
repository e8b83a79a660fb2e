"""The delegation claims of a token exchanged for a sub-agent (RFC 8693). Pure.

``act`` (RFC 8693 4.1) names the current actor; a nested ``act`` the actor before it, so
the chain read outside in is every party that held the chain's tokens, newest first, and
``sub`` stays the root agent. ``delegation`` is capbroker's: the parent's ``jti`` and every
ancestor token, root first, each with the budgets it was issued with, so a gateway refuses
a child whose ancestor is revoked, and counts the child's calls against every ancestor,
before its own revocation feed has the child's row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.domain.delegation import MAX_DEPTH
from broker.domain.templates import Budgets

ACT = "act"
DELEGATION = "delegation"
_ACT_MEMBERS = frozenset({"sub", "client_id", "act"})


@dataclass(frozen=True, slots=True)
class Ancestor:
    jti: str
    budgets: Budgets


def act_claim(actor_id: str, actor_name: str, prior: Mapping[str, Any] | None) -> dict[str, Any]:
    """The child's ``act``: the new actor, the parent's ``act`` (if any) nested inside."""
    act: dict[str, Any] = {"sub": actor_id, "client_id": actor_name}
    if prior is not None:
        act[ACT] = dict(prior)
    return act


def delegation_claim(parent_jti: str, ancestors: tuple[Ancestor, ...]) -> dict[str, Any]:
    return {
        "parent": parent_jti,
        "ancestors": [{"jti": a.jti, "budgets": _budget_object(a.budgets)} for a in ancestors],
    }


def _budget_object(b: Budgets) -> dict[str, int]:
    return {
        k: v
        for k, v in (("calls", b.calls), ("destructive_calls", b.destructive_calls))
        if v is not None
    }


def actors(claims: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """The ``act`` chain, outermost (current actor) first; () for a root token."""
    found: list[Mapping[str, Any]] = []
    act = claims.get(ACT)
    while isinstance(act, Mapping):
        found.append(act)
        act = act.get(ACT)
    return tuple(found)


def ancestors(claims: Mapping[str, Any]) -> tuple[Ancestor, ...]:
    """The ancestor tokens, root first (shapes already checked by ``claim_problem``)."""
    d = claims.get(DELEGATION)
    if not isinstance(d, Mapping):
        return ()
    return tuple(
        Ancestor(
            a["jti"],
            Budgets(a["budgets"].get("calls"), a["budgets"].get("destructive_calls")),
        )
        for a in d["ancestors"]
    )


def delegation_data(claims: Mapping[str, Any]) -> dict[str, Any]:
    """A delegated token's chain as audit events show it: ancestor jtis (root first) and
    the actors' names (current first), the subject being the root agent."""
    return {
        "chain": [a.jti for a in ancestors(claims)],
        "actors": [str(a["client_id"]) for a in actors(claims)],
    }


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def claim_problem(claims: Mapping[str, Any]) -> str | None:
    """What is malformed in ``act`` / ``delegation`` (None: nothing); bounded by MAX_DEPTH."""
    chain = actors(claims)
    if ACT in claims and not chain:
        return "act"
    for act in chain:
        if set(act) - _ACT_MEMBERS or not all(
            isinstance(act.get(k), str) and act[k] for k in ("sub", "client_id")
        ):
            return "act"
    d = claims.get(DELEGATION)
    if d is None:
        return "act" if chain else None
    if not isinstance(d, Mapping) or not isinstance(d.get("parent"), str):
        return DELEGATION
    found = d.get("ancestors")
    if not isinstance(found, list) or not 0 < len(found) <= MAX_DEPTH or len(found) != len(chain):
        return DELEGATION
    for a in found:
        if not (isinstance(a, Mapping) and isinstance(a.get("jti"), str) and a["jti"]):
            return DELEGATION
        b = a.get("budgets")
        if not isinstance(b, Mapping) or set(b) - {"calls", "destructive_calls"}:
            return DELEGATION
        if not all(_count(v) for v in b.values()):
            return DELEGATION
    if found[-1]["jti"] != d["parent"]:
        return DELEGATION
    return None


@dataclass(frozen=True)
class Delegated:
    """What a delegated token adds to its claims and its record."""

    parent_jti: str
    act: Mapping[str, Any]
    ancestors: tuple[Ancestor, ...]  # root first; the parent last

    def claims(self) -> dict[str, Any]:
        return {ACT: dict(self.act), DELEGATION: delegation_claim(self.parent_jti, self.ancestors)}

    def record(self) -> dict[str, Any]:
        """The token record's columns of its own (``tokens.parent_jti``, ``actor_id``)."""
        return {"parent_jti": self.parent_jti, "actor_id": str(self.act["sub"])}

    def audit_data(self) -> dict[str, Any]:
        """The chain as the audit log shows it: ancestor jtis and the actors' names."""
        names = [str(a["client_id"]) for a in actors({ACT: self.act})]
        return {
            "parent": self.parent_jti,
            "chain": [a.jti for a in self.ancestors],
            "actors": names,  # current actor first, as in ``act``
            "depth": len(self.ancestors),
        }
