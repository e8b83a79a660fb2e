"""Manifest documents as YAML text, used across the manifest tests (the dict builders are
``template_doc`` and ``floor_doc`` in tests/support/factories.py)."""

from __future__ import annotations

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
