"""OAuth 2.0 surface: token exchange (RFC 8693), revocation (RFC 7009), introspection (RFC 7662).

Bodies are form-encoded as the RFCs require. Every refusal here is an RFC 6749 error
(``broker.api.oauth_errors``); parameters capbroker does not support are refused, not
ignored (RFC 6749 3.2 asks to ignore only unrecognised ones).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from litestar import Controller, Request, Response, post

from broker.api.agent import token_response
from broker.api.client_auth import presented_client
from broker.api.dpop import request_jkt
from broker.api.wire import decode_form
from broker.auth.authenticator import Caller, WrongRole
from broker.auth.credentials import Kind
from broker.domain.delegation import DelegationRequest
from broker.domain.grants import GrantRequest
from broker.domain.templates import Budgets
from broker.errors import InvalidRequest, Reason, Unauthenticated
from broker.identity import WORKLOAD_TOKEN_TYPES
from broker.limits import InputProblem, parse_json
from broker.services.container import Services
from broker.services.delegation import DelegationService
from broker.services.issuance import IssuedCapability

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_CREDENTIAL = "urn:capbroker:params:oauth:token-type:agent-credential"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
DETAILS_TYPE = "capbroker_capability"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Who may introspect and revoke: resource servers, agents (their own tokens) and admins.
CLIENT_KINDS: tuple[Kind, ...] = ("resource_server", "agent", "admin")
_DETAIL_FIELDS = frozenset({"type", "template", "environments", "actions"})
_DELEGATION_FIELDS = _DETAIL_FIELDS | {"resources", "budgets"}


def _bad_details(detail: str) -> InvalidRequest:
    return InvalidRequest(detail, reason=Reason.INVALID_AUTHORIZATION_DETAILS)


def _details(text: str, fields: frozenset[str] = _DETAIL_FIELDS) -> dict[str, Any]:
    """RFC 9396: one ``capbroker_capability`` object; members it does not define (such as
    ``locations``: the gateway is the only location) are refused."""
    try:
        details = parse_json(text)  # held to broker/limits.py: depth, NUL, surrogates
    except InputProblem as exc:
        raise _bad_details(f"authorization_details is refused: {exc}") from None
    except ValueError:
        raise _bad_details("authorization_details is not valid JSON") from None
    if not (isinstance(details, list) and len(details) == 1 and isinstance(details[0], dict)):
        raise _bad_details("authorization_details must hold exactly one object")
    d: dict[str, Any] = details[0]
    if d.get("type") != DETAILS_TYPE:
        raise _bad_details(f"authorization_details type must be {DETAILS_TYPE}")
    unknown = sorted(set(d) - fields)
    if unknown:
        raise _bad_details(f"authorization_details members not supported: {', '.join(unknown)}")
    envs = d.get("environments")
    if envs is not None and not (
        isinstance(envs, list) and len(envs) == 1 and isinstance(envs[0], str)
    ):
        raise _bad_details("authorization_details.environments must name one environment")
    actions = d.get("actions")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, str) for a in actions)
    ):
        raise _bad_details("authorization_details.actions must be a list of strings")
    if "template" in d and not isinstance(d["template"], str):
        raise _bad_details("authorization_details.template must be a string")
    return d


def _exchange_request(form: dict[str, str]) -> tuple[GrantRequest, str | None]:
    """Template and environment come as parameters or as RFC 9396 authorization_details."""
    template, environment = form.get("template"), form.get("environment")
    actions: tuple[str, ...] | None = tuple(form["scope"].split()) if "scope" in form else None
    if "authorization_details" in form:
        d = _details(form["authorization_details"])
        template = d.get("template", template)
        if d.get("environments") is not None:
            environment = d["environments"][0]
        if "actions" in d:
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


def _refuse_unsupported(
    form: dict[str, str], authorization: str, audience: str, workload_types: tuple[str, ...]
) -> None:
    """What the exchange does not do is refused, so a client never believes it happened.
    ``workload_types``: the platform token types accepted (none without trusted issuers)."""
    if form.get("grant_type") != TOKEN_EXCHANGE:
        raise InvalidRequest(
            f"grant_type must be {TOKEN_EXCHANGE}", reason=Reason.UNSUPPORTED_GRANT_TYPE
        )
    subject_type = form.get("subject_token_type")
    accepted = (AGENT_CREDENTIAL, ACCESS_TOKEN, *workload_types)  # access_token: delegation
    if subject_type not in accepted or not form.get("subject_token"):
        raise InvalidRequest(
            f"subject_token_type must be {AGENT_CREDENTIAL} with the agent credential"
            f" (or {ACCESS_TOKEN} with a capability token, to delegate)"
        )
    if form.get("requested_token_type", ACCESS_TOKEN) != ACCESS_TOKEN:
        raise InvalidRequest(f"only {ACCESS_TOKEN} can be issued")
    for name in ("audience", "resource"):
        # RFC 8693 2.2.2 / RFC 8707: the only target is the gateway.
        if name in form and form[name] != audience:
            raise InvalidRequest(
                f"{name}: tokens are issued only for {audience}", reason=Reason.INVALID_TARGET
            )
    if "actor_token" in form or "actor_token_type" in form:
        if not (form.get("actor_token") and form.get("actor_token_type")):
            raise InvalidRequest("actor_token and actor_token_type go together (RFC 8693 2.1)")
        _refuse_actor(form)
    # The agent authenticates with subject_token (token_endpoint_auth_methods: none).
    if authorization or "client_secret" in form or "client_assertion" in form:
        raise Unauthenticated(
            "the token endpoint takes no client authentication: the agent credential is the"
            " subject_token",
            reason=Reason.INVALID_CLIENT,
        )


def _refuse_actor(form: dict[str, str]) -> None:
    """An actor names the sub-agent of a delegation, by its agent credential."""
    if form["subject_token_type"] != ACCESS_TOKEN:
        raise InvalidRequest(
            f"actor_token is accepted only when delegating (subject_token_type {ACCESS_TOKEN})"
        )
    if form["actor_token_type"] != AGENT_CREDENTIAL:
        raise InvalidRequest(f"actor_token_type must be {AGENT_CREDENTIAL}")


def _budgets(value: object) -> Budgets:
    counts = value if isinstance(value, dict) else None
    if counts is None or set(counts) - {"calls", "destructive_calls"}:
        raise _bad_details("authorization_details.budgets holds calls and destructive_calls")
    for v in counts.values():
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**31:
            raise _bad_details("authorization_details.budgets are whole numbers of calls")
    return Budgets(counts.get("calls"), counts.get("destructive_calls"))


def _delegation_request(form: dict[str, str]) -> DelegationRequest:
    """What a delegation asks for (``broker.domain.delegation``); what is not named is the
    parent's. Details may also narrow resources and budgets."""
    if "session_id" in form:
        raise InvalidRequest("a delegated token joins its parent's session: omit session_id")
    template, environment = form.get("template") or None, form.get("environment") or None
    actions: tuple[str, ...] | None = tuple(form["scope"].split()) if "scope" in form else None
    resources: tuple[str, ...] | None = None
    budgets: Budgets | None = None
    if "authorization_details" in form:
        d = _details(form["authorization_details"], _DELEGATION_FIELDS)
        template = d.get("template", template)
        if d.get("environments") is not None:
            environment = d["environments"][0]
        if "actions" in d:
            actions = tuple(d["actions"])
        if "resources" in d:
            found = d["resources"]
            if not (isinstance(found, list) and all(isinstance(r, str) for r in found)):
                raise _bad_details("authorization_details.resources must be a list of strings")
            resources = tuple(found)
        if "budgets" in d:
            budgets = _budgets(d["budgets"])
    ttl: int | None = None
    if "expires_in" in form:
        if not form["expires_in"].isdigit() or len(form["expires_in"]) > 6:
            raise InvalidRequest("expires_in must be a number of seconds")
        ttl = int(form["expires_in"])
    return DelegationRequest(template, environment, actions, resources, budgets, ttl)


async def _delegate(services: Services, form: dict[str, str]) -> IssuedCapability:
    """RFC 8693 with a capability token as subject_token: a narrower token for a sub-agent."""
    return await DelegationService(services.issuance).delegate(
        services.committer,
        form["subject_token"],
        _delegation_request(form),
        actor_credential=form.get("actor_token"),
        client_id=form.get("client_id"),
    )


async def _check_client_id(services: Services, form: dict[str, str]) -> None:
    """A public client's ``client_id`` must name the agent whose credential is presented."""
    if "client_id" not in form or form["subject_token_type"] != AGENT_CREDENTIAL:
        return
    try:
        agent = await asyncio.to_thread(services.authenticate, form["subject_token"], kind="agent")
    except (Unauthenticated, WrongRole) as exc:
        raise InvalidRequest(exc.detail, reason=Reason.INVALID_GRANT) from None
    if agent.name != form["client_id"]:
        raise Unauthenticated(
            "client_id does not name the agent of the subject_token", reason=Reason.INVALID_CLIENT
        )


async def _client(
    request: Request[Any, Any, Any], services: Services, form: dict[str, str], endpoint: str
) -> Caller:
    """The authenticated caller of ``/oauth/<endpoint>`` (``broker.api.client_auth``). The
    checks read the database and may hash: they run in a worker thread."""
    client = presented_client(request.headers.get("authorization", ""), form)
    if client.method == "private_key_jwt":
        assertions = services.client_assertions
        return await asyncio.to_thread(
            assertions.authenticate,
            client.secret,
            client_id=client.client_id,
            endpoint=assertions.endpoint(endpoint),
        )
    caller = await asyncio.to_thread(services.authenticator.check, client.secret, kind=CLIENT_KINDS)
    if client.client_id is not None and client.client_id != caller.name:
        raise Unauthenticated("the client_secret is not client_id's", reason=Reason.INVALID_CLIENT)
    return caller


def _token_answer(issued: IssuedCapability) -> Response[Any]:
    body = token_response(issued)
    return Response(
        {
            "access_token": body.access_token,
            "issued_token_type": ACCESS_TOKEN,
            "token_type": body.token_type,  # DPoP for a bound token (RFC 9449 5)
            "expires_in": body.expires_in,
            "scope": " ".join(body.actions),
            "session_id": body.session_id,
            "authorization_details": body.authorization_details,
        },
        headers=NO_STORE,
    )


class OAuthController(Controller):
    path = "/oauth"
    tags = ["oauth"]

    @post("/token", status_code=200, summary="RFC 8693 token exchange")
    async def token(self, request: Request[Any, Any, Any], services: Services) -> Response[Any]:
        """Exchange the agent's credential (``subject_token``) for a capability token."""
        form = decode_form(request, await request.body())
        audience = services.issuance.audience
        workload_types = WORKLOAD_TOKEN_TYPES if services.identity is not None else ()
        _refuse_unsupported(
            form, request.headers.get("authorization", ""), audience, workload_types
        )
        if form["subject_token_type"] == ACCESS_TOKEN:
            return _token_answer(await _delegate(services, form))
        # Workload identity (broker.identity): a platform's JWT instead of a credential.
        workload = services.identity if form["subject_token_type"] in workload_types else None
        grant_request, session_id = _exchange_request(form)
        jkt = request_jkt(request, services, f"{self.path}/token")  # RFC 9449 5: binds
        grant_request = dataclasses.replace(grant_request, dpop_jkt=jkt)
        await _check_client_id(services, form)
        try:
            subject: str | Caller = form["subject_token"]
            if workload is not None:
                subject = await asyncio.to_thread(workload.authenticate, form["subject_token"])
            issued = await services.issuance.issue_grouped(
                services.committer,
                subject,
                grant_request,
                session_id=session_id,
                via="oauth",
            )
        except (Unauthenticated, WrongRole) as exc:
            # RFC 8693: a subject token that does not authenticate is an invalid grant.
            raise InvalidRequest(exc.detail, reason=Reason.INVALID_GRANT) from None
        return _token_answer(issued)

    @post("/revoke", status_code=200, summary="RFC 7009 revocation")
    async def revoke(self, request: Request[Any, Any, Any], services: Services) -> Response[Any]:
        """Revoke a capability token. Answers 200 for unknown tokens too, as RFC 7009 asks."""
        form = decode_form(request, await request.body())
        caller = await _client(request, services, form, "revoke")
        if not form.get("token"):
            raise InvalidRequest("parameter token is required")
        services.issuance.revoke(caller, form["token"])
        return Response({}, headers=NO_STORE)

    @post("/introspect", status_code=200, summary="RFC 7662 introspection")
    async def introspect(
        self, request: Request[Any, Any, Any], services: Services
    ) -> Response[Any]:
        form = decode_form(request, await request.body())
        caller = await _client(request, services, form, "introspect")
        if not form.get("token"):
            raise InvalidRequest("parameter token is required")
        return Response(services.issuance.introspect(caller, form["token"]), headers=NO_STORE)
