"""Human approval bound to the exact call: held, approved by an admin, let through once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from broker.errors import Conflict, Denied
from broker.manifests import parse_manifest
from tests.support.factories import template_doc
from tests.support.stack import PROVIDER, Stack

DELETE = (
    'mutation($n: String!) { variableDelete(environmentId: "env-staging", '
    'serviceId: "svc-api", name: $n) }'
)


def call(stack: Stack, token: str, name: str, approval: str | None = None) -> httpx.Response:
    headers = {"X-Capbroker-Approval": approval} if approval else {}
    return stack.call(token, DELETE, {"n": name}, headers=headers)


def code(r: httpx.Response) -> tuple[int, str, str]:
    body: dict[str, Any] = r.json() if r.status_code != 200 else {}
    return r.status_code, body.get("code", ""), body.get("refusal", "")


def admin(stack: Stack, name: str = "ops") -> tuple[str, str]:
    created = stack.services.principals.create("admin", name, actor="test")
    return f"admin:{name}", created.principal.id


def deletes(stack: Stack) -> int:
    return stack.executed_fields().count("variableDelete")


def test_held_approved_used_once(stack: Stack) -> None:
    token = stack.token()
    held = call(stack, token, "DATABASE_URL")
    assert code(held)[:2] == (403, "approval_required")
    approval = held.json()["approval_id"]
    assert held.json()["approval_url"].endswith(f"/v1/admin/approvals/{approval}")
    assert code(call(stack, token, "DATABASE_URL", approval)) == (
        403,
        "approval_required",
        "approval_pending",
    )
    view = stack.services.approvals.get(approval)
    assert view.actions == ["variable:delete"]
    assert view.environments == ["staging"]
    assert view.agent == "claude-code"
    approver, approver_id = admin(stack)
    granted = stack.services.approvals.vote(
        approval, approver=approver, approver_id=approver_id, decision="approve"
    )
    assert granted.status == "granted"
    # a changed argument is not the call that was approved
    assert code(call(stack, token, "OTHER", approval)) == (
        403,
        "approval_denied",
        "approval_mismatch",
    )
    assert deletes(stack) == 0
    r = call(stack, token, "DATABASE_URL", approval)
    assert r.status_code == 200, r.text
    assert deletes(stack) == 1
    assert code(call(stack, token, "DATABASE_URL", approval)) == (
        403,
        "approval_denied",
        "approval_used",
    )
    assert deletes(stack) == 1


def test_denied_forged_and_foreign_approvals(stack: Stack) -> None:
    token = stack.token()
    approval = call(stack, token, "DATABASE_URL").json()["approval_id"]
    approver, approver_id = admin(stack)
    stack.services.approvals.vote(
        approval, approver=approver, approver_id=approver_id, decision="deny"
    )
    assert code(call(stack, token, "DATABASE_URL", approval)) == (
        403,
        "approval_denied",
        "approval_rejected",
    )
    assert code(call(stack, token, "DATABASE_URL", "apr_forged")) == (
        403,
        "approval_denied",
        "approval_unknown",
    )
    other = call(stack, token, "DATABASE_URL").json()["approval_id"]
    stack.services.approvals.vote(
        other, approver=approver, approver_id=approver_id, decision="approve"
    )
    another_session = stack.token()
    assert code(call(stack, another_session, "DATABASE_URL", other)) == (
        403,
        "approval_denied",
        "approval_foreign",
    )
    assert deletes(stack) == 0


def test_concurrent_retries_exactly_one_wins(stack: Stack) -> None:
    token = stack.token()
    approval = call(stack, token, "DATABASE_URL").json()["approval_id"]
    approver, approver_id = admin(stack)
    stack.services.approvals.vote(
        approval, approver=approver, approver_id=approver_id, decision="approve"
    )

    async def race() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"{stack.url}/{PROVIDER}/graphql",
                        json={"query": DELETE, "variables": {"n": "DATABASE_URL"}},
                        headers={
                            "Authorization": f"Bearer {token}",
                            "X-Capbroker-Approval": approval,
                        },
                    )
                    for _ in range(6)
                )
            )
        return sorted(a.status_code for a in answers)

    assert asyncio.run(race()) == [200, 403, 403, 403, 403, 403]
    assert deletes(stack) == 1


def test_two_person_rule_and_no_self_approval(stack: Stack) -> None:
    doc = template_doc(
        "demo-staging",
        provider=PROVIDER,
        actions=["variable:*"],
        ttl={"default": "10m", "max": "30m"},
        agents=["claude-*"],
        approval={"actions": ["variable:delete"], "approvers": 2},
    )
    stack.services.templates.apply([parse_manifest(doc, "t#2")], actor="test", dry_run=False)
    token = stack.token()
    approval = call(stack, token, "DATABASE_URL").json()["approval_id"]
    first, first_id = admin(stack, "alice")
    second, second_id = admin(stack, "bob")
    assert (
        stack.services.approvals.vote(
            approval, approver=first, approver_id=first_id, decision="approve"
        ).status
        == "pending"
    )
    with pytest.raises(Conflict):
        stack.services.approvals.vote(
            approval, approver=first, approver_id=first_id, decision="approve"
        )
    agent_id = stack.services.issuance.verify(token).sub
    with pytest.raises(Denied):
        stack.services.approvals.vote(
            approval, approver="agent:claude-code", approver_id=agent_id, decision="approve"
        )
    assert (
        stack.services.approvals.vote(
            approval, approver=second, approver_id=second_id, decision="approve"
        ).status
        == "granted"
    )
    assert call(stack, token, "DATABASE_URL", approval).status_code == 200


def test_a_spent_approval_is_refused_before_any_look_up(stack: Stack) -> None:
    # Replaying a used, denied or forged approval must not cost a look-up with the
    # master key, and reads as the approval's refusal whatever the provider holds now.
    token = stack.token()
    approval = call(stack, token, "DATABASE_URL").json()["approval_id"]
    approver, approver_id = admin(stack)
    stack.services.approvals.vote(
        approval, approver=approver, approver_id=approver_id, decision="approve"
    )
    assert call(stack, token, "DATABASE_URL", approval).status_code == 200
    for replay, refusal in ((approval, "approval_used"), ("apr_forged", "approval_unknown")):
        before = len(stack.upstream_log())
        assert code(call(stack, token, "DATABASE_URL", replay)) == (
            403,
            "approval_denied",
            refusal,
        )
        assert len(stack.upstream_log()) == before  # not even the environment look-up
