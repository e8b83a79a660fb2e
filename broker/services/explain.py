"""'Would this template or token allow this call, and why not?' for admins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.domain.explain import Effect, ExplainStep, Explanation, explain_grant, explain_template
from broker.domain.following import CurrentTemplate, Lapse, follow_template
from broker.domain.grants import Grant
from broker.errors import InvalidRequest, NotFound, Reason
from broker.services.issuance import IssuanceService
from broker.services.templates import TemplateService
from broker.store.database import Database
from broker.tokens import InvalidToken
from broker.tokens.grant import grant_from_token


@dataclass(frozen=True)
class ExplainQuery:
    action: str
    environment: str
    template: str | None = None
    template_version: int | None = None
    token: str | None = None
    agent: str | None = None
    resource: str | None = None
    effect: Effect | None = None


def explain(
    db: Database,
    templates: TemplateService,
    issuance: IssuanceService,
    q: ExplainQuery,
    *,
    ttl_ceiling: int,
) -> tuple[Explanation, dict[str, Any]]:
    if (q.template is None) == (q.token is None):
        raise InvalidRequest("name exactly one of template or token")
    effect: Effect | None = q.effect
    with db.read() as conn:
        floor, floor_version = templates.floor(conn)
        if q.template is not None:
            record = (
                templates.version(conn, q.template, q.template_version)
                if q.template_version is not None
                else templates.latest(conn, q.template)
            )
            result = explain_template(
                record.template,
                record.version,
                floor,
                action=q.action,
                environment=q.environment,
                agent_name=q.agent,
                resource=q.resource,
                effect=effect,
                ttl_ceiling=ttl_ceiling,
            )
            return result, {
                "template": q.template,
                "template_version": record.version,
                "policy_floor_version": floor_version,
            }
    assert q.token is not None
    try:
        verified = issuance.verify(q.token)
    except InvalidToken as exc:
        step = ExplainStep("token", False, exc.reason, "the token is not valid now")
        return Explanation("deny", (step,)), {"policy_floor_version": floor_version}
    followed = _followed(db, templates, grant_from_token(verified))
    if isinstance(followed, Lapse):  # as the gateway answers it: the token grants nothing
        step = ExplainStep("template", False, followed.reason, followed.detail)
        return Explanation("deny", (step,)), {"policy_floor_version": floor_version}
    result = explain_grant(
        followed,
        floor,
        action=q.action,
        environment=q.environment,
        resource=q.resource,
        effect=effect,
    )
    status = issuance.introspect_status(verified.jti)
    steps = result.steps
    if status != "active":
        steps = (
            *steps,
            ExplainStep("token", False, Reason.TOKEN_REVOKED, f"the token is {status}"),
        )
        result = Explanation("deny", steps)
    revoked = [a for a in verified.ancestors if issuance.introspect_status(a) != "active"]
    if revoked:  # a delegated token lives only while its ancestors do, as at the gateway
        steps = (
            *steps,
            ExplainStep(
                "token",
                False,
                Reason.TOKEN_REVOKED,
                "a token this one was delegated from is no longer active",
            ),
        )
        result = Explanation("deny", steps)
    return result, {
        "jti": verified.jti,
        "template": verified.template,
        "template_version": verified.template_version,
        "policy_floor_version": floor_version,
    }


def _followed(db: Database, templates: TemplateService, grant: Grant) -> Grant | Lapse:
    """The token's grant as its template's current version still allows it (what the
    gateway enforces, decision 0019)."""
    with db.read() as conn:
        try:
            record = templates.latest(conn, grant.template_name)
        except NotFound:
            detail = f"template {grant.template_name!r} no longer exists"
            return Lapse(Reason.TOKEN_REVOKED, detail)
    return follow_template(grant, CurrentTemplate(record.version, record.template))
