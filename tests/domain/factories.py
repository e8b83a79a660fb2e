"""Small builders for domain values used across the tests."""

from __future__ import annotations

from typing import Any

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
