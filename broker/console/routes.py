"""The console's routes: ``console_router(services)`` is mounted by ``create_app``.

GET pages read; POST forms act, each guarded by ``_guard`` (origin, session, CSRF token)
and answered with a 303 back to the page and a one-time message. Refusals from the
services (a vote on a decided approval, an unknown agent) become that message.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from litestar import MediaType, Request, Response, Router, get, post
from litestar.exceptions import HTTPException

from broker.api.problems import broker_error, http_error, internal_error, problem
from broker.auth.authenticator import Caller
from broker.console import pages
from broker.console.render import page
from broker.console.security import (
    COOKIE,
    LOGIN_COOKIE,
    clear_cookie,
    csrf_refusal,
    same_origin,
    secure_headers,
    set_cookie,
    token_matches,
)
from broker.console.sessions import ConsoleSession, ConsoleSessions
from broker.errors import BrokerError, Reason
from broker.services.container import Services
from broker.store.raw import RawStatement

Req = Request[Any, Any, Any]
LOGIN_TOKEN_AGE = 15 * 60
MAX_CREDENTIAL = 1024


def _html(body: str, *, status: int = 200) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.HTML)


def _see(location: str) -> Response[Any]:
    return Response(b"", status_code=303, headers={"Location": location})


def _with_headers(response: Response[Any]) -> Response[Any]:
    return secure_headers(response)


def _on_error(request: Req, exc: Exception) -> Response[Any]:
    if isinstance(exc, BrokerError):
        return secure_headers(broker_error(request, exc))
    if isinstance(exc, HTTPException):
        return secure_headers(http_error(request, exc))
    return secure_headers(internal_error(request, exc))


def console_router(services: Services) -> Router:
    store = ConsoleSessions(services.clock)

    def current(request: Req) -> ConsoleSession | None:
        session = store.get(request.cookies.get(COOKIE))
        if session is not None and not _still_enabled(services, session.caller):
            # A disabled admin (or credential) loses the console at once, not at expiry.
            store.end(session.id)
            return None
        return session

    def audit(type_: str, caller: Caller) -> None:
        with services.db.transaction() as tx:
            services.audit.append(
                tx, type=type_, actor=caller.label, subject=f"principal:{caller.principal_id}"
            )

    def show(title: str, render: Callable[[ConsoleSession], str]) -> Callable[[Req], Any]:
        def handler(request: Req) -> Response[Any]:
            session = current(request)
            if session is None:
                return _see("/console/login")
            body = render(session)
            return _html(
                page(
                    title,
                    body,
                    who=session.caller.label,
                    csrf=session.csrf,
                    flash=session.take_flash(),
                )
            )

        return handler

    async def guard(request: Req) -> tuple[ConsoleSession, dict[str, str]] | Response[Any]:
        """Origin, then session, then CSRF token; nothing is changed unless all pass."""
        if not same_origin(request):
            return csrf_refusal(request, "cross-origin form posts are refused")
        session = current(request)
        if session is None:
            return _see("/console/login")
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        if not token_matches(session.csrf, fields.get("csrf")):
            return csrf_refusal(request, "the form's CSRF token is missing or wrong")
        return session, fields

    def act(session: ConsoleSession, back: str, action: Callable[[], str]) -> Response[Any]:
        try:
            session.flash.append(action())
        except BrokerError as exc:
            session.flash.append(f"Refused ({exc.reason.value}): {exc.detail}")
        return _see(back)

    @get("/", sync_to_thread=False)
    def home(request: Req) -> Response[Any]:
        return _see("/console/approvals" if current(request) else "/console/login")

    @get("/login", sync_to_thread=False)
    def login_form(request: Req) -> Response[Any]:
        if current(request) is not None:
            return _see("/console/approvals")
        token = secrets.token_urlsafe(32)
        response = _html(page("Log in", pages.login(token)))
        set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_TOKEN_AGE)
        return response

    @post("/login")
    async def login(request: Req) -> Response[Any]:
        if not same_origin(request):
            return csrf_refusal(request, "cross-origin form posts are refused")
        form = await request.form()
        given = form.get("csrf")
        if not token_matches(
            request.cookies.get(LOGIN_COOKIE, ""), given if isinstance(given, str) else None
        ):
            return csrf_refusal(request, "the login form's token is missing or wrong")
        raw = form.get("credential")
        credential = raw.strip() if isinstance(raw, str) else ""
        try:
            if not credential or len(credential) > MAX_CREDENTIAL:
                raise BrokerError("the credential is not valid", reason=Reason.CREDENTIAL_INVALID)
            caller = await anyio.to_thread.run_sync(
                functools.partial(services.authenticate, credential, kind="admin")
            )
        except BrokerError as exc:
            error = f"Login refused ({exc.reason.value}): {exc.detail}"
            return _html(page("Log in", pages.login(str(given)), error=error), status=401)
        session = store.create(caller)
        await anyio.to_thread.run_sync(functools.partial(audit, "console.login", caller))
        response = _see("/console/approvals")
        set_cookie(request, response, COOKIE, session.id, int(store.ttl))
        clear_cookie(request, response, LOGIN_COOKIE)
        return response

    @post("/logout")
    async def logout(request: Req) -> Response[Any]:
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        session, _ = checked
        store.end(session.id)
        audit("console.logout", session.caller)
        response = _see("/console/login")
        clear_cookie(request, response, COOKIE)
        return response

    @post("/approvals/{approval_id:str}/{verdict:str}")
    async def decide(request: Req, approval_id: str, verdict: str) -> Response[Any]:
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        session, _ = checked
        if verdict not in ("approve", "deny"):
            return secure_headers(problem(404, "Not found", "no such action", Reason.NOT_FOUND))
        caller = session.caller

        def vote() -> str:
            view = services.approvals.vote(
                approval_id,
                approver=caller.label,
                approver_id=caller.principal_id,
                decision="approve" if verdict == "approve" else "deny",
            )
            return f"You voted {verdict} on {approval_id}: it is now {view.status}."

        return act(session, "/console/approvals", vote)

    @post("/sessions/{session_id:str}/end")
    async def end_session(request: Req, session_id: str) -> Response[Any]:
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        session, _ = checked

        def end() -> str:
            revoked = services.issuance.end_session(session.caller, session_id)
            return f"Session {session_id} ended; {revoked} token(s) revoked."

        return act(session, "/console/sessions", end)

    @post("/kills")
    async def engage(request: Req) -> Response[Any]:
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        session, fields = checked
        scope = fields.get("scope", "")
        name = fields.get("name", "").strip()

        def kill() -> str:
            record, revoked = services.kills.engage(
                scope, name, actor=session.caller.label, reason=fields.get("reason", "")
            )
            return (
                f"Kill switch engaged on {scope} {record.switch.label}; {revoked} token(s) revoked."
            )

        return act(session, "/console/kills", kill)

    @post("/kills/{kill_id:str}/lift")
    async def lift(request: Req, kill_id: str) -> Response[Any]:
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        session, _ = checked

        def lift_it() -> str:
            services.kills.lift(kill_id, actor=session.caller.label)
            return f"Kill switch {kill_id} lifted."

        return act(session, "/console/kills", lift_it)

    def read_page(path: str, title: str, render: Callable[[ConsoleSession], str]) -> Any:
        return get(path, sync_to_thread=False, name=f"console-{path.strip('/')}")(
            show(title, render)
        )

    return Router(
        path="/console",
        route_handlers=[
            home,
            login_form,
            login,
            logout,
            decide,
            end_session,
            engage,
            lift,
            read_page(
                "/approvals", "Pending approvals", lambda s: pages.approvals(services, s.csrf)
            ),
            read_page("/sessions", "Active sessions", lambda s: pages.sessions(services, s.csrf)),
            read_page("/kills", "Kill switch", lambda s: pages.kills(services, s.csrf)),
            read_page("/audit", "Audit trail", lambda s: pages.audit(services)),
            read_page("/templates", "Templates", lambda s: pages.templates(services)),
        ],
        after_request=_with_headers,
        exception_handlers={Exception: _on_error},
        include_in_schema=False,
    )


_CREDENTIAL_STATE = RawStatement(
    "SELECT c.disabled_at, p.disabled_at FROM credentials c JOIN principals p"
    " ON p.id = c.principal_id WHERE c.key_id = :key_id AND p.id = :principal_id"
)


def _still_enabled(services: Services, caller: Caller) -> bool:
    with services.db.read() as conn:
        row = _CREDENTIAL_STATE.fetch_one(
            conn, {"key_id": caller.key_id, "principal_id": caller.principal_id}
        )
    return row is not None and row[0] is None and row[1] is None
