"""Capability templates: what an admin allows agents to ask for."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from broker.domain.actions import ACTION_HINT, covered_by, is_valid_action
from broker.domain.durations import parse_duration
from broker.domain.globs import glob_match
from broker.domain.names import is_valid_environment, is_valid_name
from broker.domain.problems import SpecError
from broker.domain.specs import SpecReader

DEFAULT_RESOURCES = ("*",)
AGENT_PATTERN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-*")
RESOURCE_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))  # printable ASCII, no space


def _is_pattern(s: str) -> bool:
    return is_valid_action(s, allow_wildcards=True)


def _is_agent_glob(s: str) -> bool:
    return 0 < len(s) <= 128 and all(c in AGENT_PATTERN_CHARS for c in s)


def _is_resource_glob(s: str) -> bool:
    return 0 < len(s) <= 256 and all(c in RESOURCE_CHARS for c in s)


def _each(
    r: SpecReader, key: str, values: tuple[str, ...], valid: Callable[[str], bool], what: str
) -> None:
    for i, value in enumerate(values):
        if not valid(value):
            r.add(f"{key}[{i}]", f"{value!r} {what}")


@dataclass(frozen=True, slots=True)
class Budgets:
    """Per-token call budgets; ``None`` means unlimited."""

    calls: int | None = None
    destructive_calls: int | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    actions: tuple[str, ...] = ()  # patterns whose calls wait for a human
    approvers: int = 1  # distinct humans needed


@dataclass(frozen=True, slots=True)
class Template:
    """A validated template. Lists are sorted tuples so equal specs give equal values."""

    name: str
    provider: str
    environments: tuple[str, ...]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    default_ttl: int
    max_ttl: int
    agents: tuple[str, ...]  # glob patterns over agent names; empty means nobody
    budgets: Budgets
    approval: ApprovalRule
    description: str
    # Delegation steps a token of this template may take (RFC 8693, domain/delegation.py);
    # 0: its tokens cannot be delegated. Opt-in: a sub-agent is a new party.
    delegation_depth: int = 0
    # RFC 9449: tokens only bound to a DPoP key (``cnf.jkt``), checked per call at the gateway
    require_dpop: bool = False


def template_from_spec(name: str, spec: Mapping[str, Any]) -> Template:
    """Build a ``Template`` from a schema-valid spec, enforcing the cross-field rules.

    Raises ``SpecError`` listing every problem. An omitted ``agents`` list means no
    agent may request the template (fail closed); omitted ``resources`` means all.
    """
    r = SpecReader(spec)
    if not is_valid_name(name):
        r.add("metadata.name", f"{name!r} is not a valid name")
    provider = r.string("provider")
    if isinstance(spec.get("provider"), str) and not is_valid_name(provider):
        r.add("provider", f"{provider!r} is not a valid provider name")
    environments = r.strings("environments", empty="must name at least one environment")
    actions = r.strings("actions", empty="must grant at least one action")
    resources = r.strings("resources", DEFAULT_RESOURCES)
    agents = r.strings("agents", ())
    description = r.string("description", "")
    require_dpop = spec.get("require_dpop", False)
    if not isinstance(require_dpop, bool):
        r.add("require_dpop", "must be true or false")
    ttl = r.child("ttl")
    default_ttl = _duration(ttl, "default")
    max_ttl = _duration(ttl, "max")
    b = r.child("budgets")
    budgets = Budgets(b.optional_int("calls"), b.optional_int("destructive_calls"))
    a = r.child("approval")
    approval_actions = a.strings("actions", ())
    approvers = a.optional_int("approvers") or 1
    delegation_depth = r.child("delegation").optional_int("max_depth") or 0

    _each(r, "environments", environments, is_valid_environment, "is not a valid environment")
    for i, env in enumerate(environments):
        if env in environments[:i]:
            r.add(f"environments[{i}]", f"{env!r} is listed twice")
    _each(r, "actions", actions, _is_pattern, ACTION_HINT)
    _each(r, "agents", agents, _is_agent_glob, "is not a valid agent name pattern")
    _each(r, "resources", resources, _is_resource_glob, "is not a valid resource pattern")
    _each(r, "approval.actions", approval_actions, _is_pattern, ACTION_HINT)
    for i, action in enumerate(approval_actions):
        if _is_pattern(action) and not covered_by(actions, action):
            r.add(
                f"approval.actions[{i}]",
                f"{action!r} is not covered by any of the template's actions",
            )
    if default_ttl and max_ttl and default_ttl > max_ttl:
        r.add("ttl.default", f"default ({default_ttl}s) is longer than max ({max_ttl}s)")
    if r.problems:
        raise SpecError(r.problems)
    return Template(
        name=name,
        provider=provider,
        environments=tuple(sorted(environments)),
        actions=tuple(sorted(set(actions))),
        resources=tuple(sorted(set(resources))),
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        agents=tuple(sorted(set(agents))),
        budgets=budgets,
        approval=ApprovalRule(tuple(sorted(set(approval_actions))), approvers),
        description=description,
        delegation_depth=delegation_depth,
        require_dpop=require_dpop is True,
    )


def _duration(r: SpecReader, key: str) -> int:
    if key not in r.spec:
        r.add(r.path(key), "is required")
        return 0
    try:
        return parse_duration(r.spec[key])
    except ValueError as exc:
        r.add(r.path(key), str(exc))
        return 0


def template_to_spec(t: Template) -> dict[str, Any]:
    """The canonical spec: every field present (``require_dpop`` only when true), lists
    sorted, durations in seconds."""
    budgets = {
        k: v
        for k, v in (("calls", t.budgets.calls), ("destructive_calls", t.budgets.destructive_calls))
        if v is not None
    }
    spec: dict[str, Any] = {
        "provider": t.provider,
        "environments": sorted(t.environments),
        "actions": sorted(t.actions),
        "resources": sorted(t.resources),
        "ttl": {"default": t.default_ttl, "max": t.max_ttl},
        "agents": sorted(t.agents),
        "budgets": budgets,
        "approval": {"actions": sorted(t.approval.actions), "approvers": t.approval.approvers},
        "description": t.description,
    }
    if t.delegation_depth:  # only when set: older templates keep their digests
        spec["delegation"] = {"max_depth": t.delegation_depth}
    if t.require_dpop:  # only when set: the specs (and digests) of other templates stay
        spec["require_dpop"] = True
    return spec


def spec_digest(spec: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``spec`` (sorted keys, no whitespace)."""
    text = json.dumps(
        spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def agent_allowed(t: Template, agent_name: str) -> bool:
    """Whether one of the template's agent globs matches ``agent_name``."""
    return any(glob_match(p, agent_name) for p in t.agents)
