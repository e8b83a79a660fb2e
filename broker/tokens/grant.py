"""The grant a token carries, as RFC 9396 authorization details: written by the issuer,
read back by the gateway and by explain. One place for the format."""

from __future__ import annotations

from typing import Any, cast

from broker.domain.grants import Grant
from broker.domain.templates import Budgets
from broker.errors import InvalidRequest
from broker.tokens.claims import CAPABILITY_TYPE, VerifiedToken

AUTHORIZATION_DETAILS_TYPE = CAPABILITY_TYPE


def authorization_details(
    grant: Grant, audience: str, *, dry_run: bool = False
) -> list[dict[str, Any]]:
    """The grant as RFC 9396 authorization details (what the gateway enforces). A dry-run
    token only ever gets "what would happen" answers from the gateway."""
    detail: dict[str, Any] = {
        "type": AUTHORIZATION_DETAILS_TYPE,
        "provider": grant.provider,
        "environments": [grant.environment],
        "actions": list(grant.actions),
        "locations": [audience],
        "resources": list(grant.resources),
    }
    budgets = {
        k: v
        for k, v in (
            ("calls", grant.budgets.calls),
            ("destructive_calls", grant.budgets.destructive_calls),
        )
        if v is not None
    }
    if budgets:
        detail["budgets"] = budgets
    if grant.approval_actions:
        detail["approval"] = {"actions": list(grant.approval_actions), "approvers": grant.approvers}
    if dry_run:
        detail["dry_run"] = True
    return [detail]


def grant_from_token(token: VerifiedToken) -> Grant:
    """The grant a token carries, read back from its RFC 9396 authorization details."""
    detail = next(
        (d for d in token.authorization_details if d.get("type") == AUTHORIZATION_DETAILS_TYPE),
        None,
    )
    if detail is None:
        raise InvalidRequest("the token carries no capbroker authorization details")
    budgets = cast(dict[str, Any], detail.get("budgets") or {})
    approval = cast(dict[str, Any], detail.get("approval") or {})
    envs = list(detail.get("environments") or [])
    return Grant(
        template_name=token.template,
        template_version=token.template_version,
        provider=str(detail.get("provider", "")),
        environment=str(envs[0]) if envs else "",
        actions=tuple(detail.get("actions") or ()),
        resources=tuple(detail.get("resources") or ("*",)),
        ttl=int(token.exp - token.iat),
        budgets=Budgets(budgets.get("calls"), budgets.get("destructive_calls")),
        approval_actions=tuple(approval.get("actions") or ()),
        approvers=int(approval.get("approvers", 1)),
        dpop_jkt=token.cnf_jkt,
    )
