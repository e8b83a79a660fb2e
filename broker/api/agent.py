"""The agent's side: a capability token at session start, and ending the session."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from broker.api.dpop import presented_token, request_jkt
from broker.api.schemas import SessionEnded, TokenRequest, TokenResponse
from broker.api.wire import bearer, decode_json
from broker.domain.grants import GrantRequest
from broker.errors import NotFound
from broker.services.container import Services
from broker.services.issuance import IssuedCapability


def token_response(issued: IssuedCapability) -> TokenResponse:
    grant = issued.grant
    return TokenResponse(
        access_token=issued.access_token,
        token_type="DPoP" if grant.dpop_jkt is not None else "Bearer",  # RFC 9449 5
        expires_in=issued.expires_in,
        session_id=issued.session_id,
        jti=issued.jti,
        template=grant.template_name,
        template_version=grant.template_version,
        environment=grant.environment,
        actions=list(grant.actions),
        authorization_details=issued.authorization_details,
    )


class AgentController(Controller):
    path = "/v1"
    tags = ["agent"]

    @post("/tokens", status_code=201, summary="Request a capability token")
    async def request_token(
        self, request: Request[Any, Any, Any], services: Services
    ) -> TokenResponse:
        """Authenticate with the agent credential (Bearer) and get a token for one environment.

        The grant is exactly the request, which must lie inside the template and the policy
        floor; anything outside is refused with a reason code, never silently narrowed.
        """
        data = decode_json(request, await request.body(), TokenRequest)
        jkt = request_jkt(request, services, f"{self.path}/tokens")  # RFC 9449: binds
        issued = await services.issuance.issue_grouped(
            services.committer,
            bearer(request),
            GrantRequest(
                template=data.template,
                environment=data.environment,
                actions=tuple(data.actions) if data.actions is not None else None,
                ttl=data.ttl,
                dpop_jkt=jkt,
            ),
            session_id=data.session_id,
            dry_run=data.dry_run,
        )
        return token_response(issued)

    @post("/sessions/{session_id:str}/end", status_code=200, sync_to_thread=True)
    def end_session(
        self, request: Request[Any, Any, Any], session_id: str, services: Services
    ) -> SessionEnded:
        """End a session: every token issued in it is revoked."""
        # The agent that owns the session, or any admin.
        caller = services.authenticate(bearer(request), kind=None)
        return SessionEnded(session_id, services.issuance.end_session(caller, session_id))

    @get("/approvals/{approval_id:str}", sync_to_thread=True)
    def approval_status(
        self, request: Request[Any, Any, Any], approval_id: str, services: Services
    ) -> dict[str, Any]:
        """A held call's state, for the session that asked (a live capability token of that
        session: Bearer, or DPoP with a proof when bound). Another session's approval is as
        unknown as a forged id."""
        token = presented_token(request, services, f"/v1/approvals/{approval_id}")
        if services.issuance.introspect_status(token.jti) != "active":
            raise NotFound("no such approval")
        view = services.approvals.get(approval_id)
        if view.session_id != token.sid:
            raise NotFound("no such approval")
        approved = sum(1 for v in view.votes if v["decision"] == "approve")
        return {
            "id": view.id,
            "status": view.status,
            "approvals": approved,
            "approvers_required": view.approvers_required,
            "expires_at": view.expires_at,
        }
