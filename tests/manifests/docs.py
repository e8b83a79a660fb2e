"""Manifest documents used across the manifest tests."""

from __future__ import annotations

from typing import Any

TEMPLATE_YAML = """\
apiVersion: capbroker.dev/v1
kind: CapabilityTemplate
metadata: {name: staging-agent, labels: {team: infra}}
spec:
  provider: railway
  environments: [staging]
  actions: ["project:read", "deployment:*", "variable:write", "volume:delete"]
  resources: ["*"]
  ttl: {default: 15m, max: 1h}
  agents: ["ci-*", "claude-code"]
  budgets: {calls: 500, destructive_calls: 3}
  approval: {actions: ["volume:delete"], approvers: 1}
  description: "Staging work for CI and coding agents"
"""

FLOOR_YAML = """\
apiVersion: capbroker.dev/v1
kind: PolicyFloor
metadata: {name: default}
spec:
  forbidden_actions: ["backup:delete", "volume:delete-all"]
  protected_environments: [production]
"""


def template_doc(name: str = "staging-agent", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "provider": "railway",
        "environments": ["staging"],
        "actions": ["project:read", "volume:*"],
        "ttl": {"default": "15m", "max": "1h"},
    }
    base.update(spec)
    return {
        "apiVersion": "capbroker.dev/v1",
        "kind": "CapabilityTemplate",
        "metadata": {"name": name},
        "spec": base,
    }


def floor_doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "capbroker.dev/v1",
        "kind": "PolicyFloor",
        "metadata": {"name": "default"},
        "spec": spec,
    }
