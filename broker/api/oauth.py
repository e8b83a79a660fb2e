"""OAuth 2.0 surface: token exchange (RFC 8693), revocation (RFC 7009), introspection (RFC 7662).

Bodies are form-encoded as the RFCs require. Refusals are problem+json that also carry the
RFC 6749 ``error``/``error_description`` members, so OAuth clients and our callers both read them.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from broker.api.agent import token_response
from broker.api.wire import bearer, decode_form
from broker.domain.grants import GrantRequest
from broker.errors import InvalidRequest, Reason, Unauthenticated
from broker.limits import InputProblem, parse_json
from broker.services.container import Services

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_CREDENTIAL = "urn:capbroker:params:oauth:token-type:agent-credential"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _exchange_request(form: dict[str, str]) -> tuple[GrantRequest, str | None]:
    """Template and environment come as parameters or as RFC 9396 authorization_details."""
    template, environment = form.get("template"), form.get("environment")
    actions: tuple[str, ...] | None = tuple(form["scope"].split()) if "scope" in form else None
    if "authorization_details" in form:
        try:
            details = parse_json(form["authorization_details"])
        except InputProblem as exc:
            raise InvalidRequest(f"authorization_details is refused: {exc}") from None
        except ValueError:
            raise InvalidRequest("authorization_details is not valid JSON") from None
        if not (isinstance(details, list) and len(details) == 1 and isinstance(details[0], dict)):
            raise InvalidRequest("authorization_details must hold exactly one object")
        d = details[0]
        if d.get("type") != "capbroker_capability":
            raise InvalidRequest("authorization_details type must be capbroker_capability")
        template = d.get("template", template)
        envs = d.get("environments")
        if envs is not None:
            if not (isinstance(envs, list) and len(envs) == 1 and isinstance(envs[0], str)):
                raise InvalidRequest("authorization_details.environments must name one environment")
            environment = envs[0]
        if "actions" in d:
            if not (
                isinstance(d["actions"], list) and all(isinstance(a, str) for a in d["actions"])
            ):
                raise InvalidRequest("authorization_details.actions must be a list of strings")
            actions = tuple(d["actions"])
    if not isinstance(template, str) or not template:
        raise InvalidRequest("name the template (parameter template or authorization_details)")
    if not isinstance(environment, str) or not environment:
        raise InvalidRequest(
            "name the environment (parameter environment or authorization_details)"
        )
    ttl: int | None = None
    if "expires_in" in form:
        if not form["expires_in"].isdigit() or len(form["expires_in"]) > 6:
            raise InvalidRequest("expires_in must be a number of seconds")
        ttl = int(form["expires_in"])
    return GrantRequest(template, environment, actions, ttl), form.get("session_id")


class OAuthController(Controller):
    path = "/oauth"
    tags = ["oauth"]

    @post("/token", status_code=200, summary="RFC 8693 token exchange")
    async def token(self, request: Request[Any, Any, Any], services: Services) -> Response[Any]:
        """Exchange the agent's credential (``subject_token``) for a capability token."""
        form = decode_form(request, await request.body())
        if form.get("grant_type") != TOKEN_EXCHANGE:
            raise InvalidRequest(
                f"grant_type must be {TOKEN_EXCHANGE}",
                reason=Reason.UNSUPPORTED_GRANT_TYPE,
                extra={"error": "unsupported_grant_type"},
            )
        if form.get("subject_token_type") != AGENT_CREDENTIAL or not form.get("subject_token"):
            raise InvalidRequest(
                f"subject_token_type must be {AGENT_CREDENTIAL} with the agent credential",
                extra={"error": "invalid_request"},
            )
        requested = form.get("requested_token_type", ACCESS_TOKEN)
        if requested != ACCESS_TOKEN:
            raise InvalidRequest(
                f"only {ACCESS_TOKEN} can be issued", extra={"error": "invalid_request"}
            )
        grant_request, session_id = _exchange_request(form)
        try:
            issued = await services.issuance.issue_grouped(
                services.committer,
                form["subject_token"],
                grant_request,
                session_id=session_id,
                via="oauth",
            )
        except Unauthenticated as exc:
            # RFC 8693: a subject token that does not authenticate is an invalid grant.
            raise InvalidRequest(
                exc.detail, reason=Reason.INVALID_GRANT, extra={"error": "invalid_grant"}
            ) from None
        body = token_response(issued)
        return Response(
            {
                "access_token": body.access_token,
                "issued_token_type": ACCESS_TOKEN,
                "token_type": "Bearer",
                "expires_in": body.expires_in,
                "scope": " ".join(body.actions),
                "session_id": body.session_id,
                "authorization_details": body.authorization_details,
            },
            headers=NO_STORE,
        )

    @post("/revoke", status_code=200, summary="RFC 7009 revocation")
    async def revoke(self, request: Request[Any, Any, Any], services: Services) -> Response[Any]:
        """Revoke a capability token. Answers 200 for unknown tokens too, as RFC 7009 asks."""
        caller = services.authenticate(bearer(request), kind=None)
        form = decode_form(request, await request.body())
        if not form.get("token"):
            raise InvalidRequest("parameter token is required", extra={"error": "invalid_request"})
        services.issuance.revoke(caller, form["token"])
        return Response({}, headers=NO_STORE)

    @post("/introspect", status_code=200, summary="RFC 7662 introspection")
    async def introspect(
        self, request: Request[Any, Any, Any], services: Services
    ) -> Response[Any]:
        caller = services.authenticate(bearer(request), kind=None)
        form = decode_form(request, await request.body())
        if not form.get("token"):
            raise InvalidRequest("parameter token is required", extra={"error": "invalid_request"})
        return Response(services.issuance.introspect(caller, form["token"]), headers=NO_STORE)
