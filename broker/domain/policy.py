"""The policy floor: global rules that beat every template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.domain.actions import ACTION_HINT, is_valid_action
from broker.domain.names import is_valid_environment
from broker.domain.problems import SpecError
from broker.domain.specs import SpecReader

FLOOR_NAME = "default"  # there is exactly one floor


@dataclass(frozen=True, slots=True)
class PolicyFloor:
    forbidden_actions: tuple[str, ...] = ()  # patterns no token may carry or use
    protected_environments: tuple[str, ...] = ()  # destructive calls here always need approval


EMPTY_FLOOR = PolicyFloor()


def floor_from_spec(spec: Mapping[str, Any]) -> PolicyFloor:
    """Build the floor from a schema-valid spec; raise ``SpecError`` listing every problem."""
    r = SpecReader(spec)
    forbidden = r.strings("forbidden_actions", ())
    protected = r.strings("protected_environments", ())
    for i, action in enumerate(forbidden):
        if not is_valid_action(action, allow_wildcards=True):
            r.add(f"forbidden_actions[{i}]", f"{action!r} {ACTION_HINT}")
    for i, env in enumerate(protected):
        if not is_valid_environment(env):
            r.add(f"protected_environments[{i}]", f"{env!r} is not a valid environment name")
    if r.problems:
        raise SpecError(r.problems)
    return PolicyFloor(tuple(sorted(set(forbidden))), tuple(sorted(set(protected))))


def floor_to_spec(floor: PolicyFloor) -> dict[str, Any]:
    return {
        "forbidden_actions": sorted(floor.forbidden_actions),
        "protected_environments": sorted(floor.protected_environments),
    }
