"""Templates and floors for the tests: domain values (``template``), their specs
(``spec``) and whole manifest documents (``template_doc``, ``floor_doc``).

Every test that needs a template builds it here with its own overrides, rather than
spelling out the whole document inline."""

from __future__ import annotations

from typing import Any

from broker.domain.approvals import HeldCall
from broker.domain.templates import Template, template_from_spec


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "provider": "railway",
        "environments": ["staging"],
        "actions": ["project:read", "deployment:*", "variable:write", "volume:delete"],
        "resources": ["*"],
        "ttl": {"default": "15m", "max": "1h"},
        "agents": ["ci-*", "claude-code"],
        "budgets": {"calls": 500, "destructive_calls": 3},
        "approval": {"actions": ["volume:delete"], "approvers": 1},
        "description": "staging work",
    }
    base.update(overrides)
    return base


def template(name: str = "staging-agent", **overrides: Any) -> Template:
    return template_from_spec(name, spec(**overrides))


API_VERSION = "capbroker.dev/v1"


def template_doc(name: str = "staging-agent", **spec: Any) -> dict[str, Any]:
    """A CapabilityTemplate manifest; ``spec`` keys replace the minimal defaults."""
    base: dict[str, Any] = {
        "provider": "railway",
        "environments": ["staging"],
        "actions": ["project:read", "volume:*"],
        "ttl": {"default": "15m", "max": "1h"},
    }
    base.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "CapabilityTemplate",
        "metadata": {"name": name},
        "spec": base,
    }


def floor_doc(**spec: Any) -> dict[str, Any]:
    """The PolicyFloor manifest with exactly ``spec``."""
    return {
        "apiVersion": API_VERSION,
        "kind": "PolicyFloor",
        "metadata": {"name": "default"},
        "spec": spec,
    }


def held_volume_delete(provider: str) -> HeldCall:
    """A held ``volumeDelete`` on the staging-only ``vol-cache``, as the gateway records it."""
    return HeldCall(
        provider,
        "POST",
        "/graphql",
        "",
        "0" * 64,
        ("volume:delete",),
        ("volume:vol-cache",),
        ("staging",),
    )


# A route map with one REST rule and no GraphQL part (for checks of the wrong kind).
REST_ONLY_MAP: dict[str, Any] = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "RouteMap",
    "metadata": {"name": "rest-only"},
    "spec": {
        "provider": "rest-only",
        "upstream": "http://127.0.0.1:1",
        "auth": {"header": "Authorization", "format": "Bearer {key}"},
        "actions": {"repo:read": {"effect": "read"}},
        "rest": [
            {
                "method": "GET",
                "path": "/repos/{o}/{r}",
                "action": "repo:read",
                "environment": {"unscoped": True},
            }
        ],
    },
}
