"""The gateway as a plain ASGI app: the pipeline in the order a request meets it.

1. drop hop-by-hop and untrusted forwarding headers; route ``/{provider}/...``
2. verify the capability token offline (cached until exp); check revocation in memory
3. canonicalise method, path, query; read the body only if classification needs it
4. classify with the provider's route map; resolve environments on our own authority
5. decide (pure), count budgets, and write the decision to the audit log; only then
6. swap the token for the master key and forward, streaming both ways, redacting echoes

Every refusal is problem+json with a reason code, is audited, and forwards nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from broker.audit.writer import AuditWriter
from broker.clock import Clock
from broker.domain.approvals import HeldCall
from broker.domain.grants import Grant
from broker.errors import BrokerError, Denied, InvalidRequest, PayloadTooLarge, Reason, Unavailable
from broker.gateway.budgets import count_call
from broker.gateway.decide import Decision, ResolvedCall, decide
from broker.gateway.masterkeys import MasterKeys
from broker.gateway.notify import ApprovalWebhook
from broker.gateway.redact import StreamRedactor, redact_header_value
from broker.gateway.resolve import EnvironmentResolver
from broker.gateway.revocations import Changes, Revocations
from broker.gateway.tokens import GatewayKeys, VerifiedTokens
from broker.gateway.upstream import HOP_BY_HOP, UNTRUSTED_FORWARDING, Upstream, connection_listed
from broker.routemap.canonical import CanonicalRequest, canonical_request
from broker.routemap.classify import classify
from broker.routemap.errors import refusal_code
from broker.routemap.model import Classification
from broker.routemap.routemap import GraphQLSpec, Route, RouteMap
from broker.services.approvals import ApprovalService
from broker.services.templates import TemplateService
from broker.store.checkpoint import WalCheckpointer
from broker.store.database import Database, Tx
from broker.store.group_commit import GroupCommit
from broker.tokens import InvalidToken, VerifiedToken
from broker.tokens.grant import grant_from_token

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
log = logging.getLogger("capbroker.gateway")
PROBLEM_TYPE = "https://capbroker.dev/problems/"
# Our own control headers never reach the provider.
CONTROL_PREFIX = b"x-capbroker-"


APPROVAL_HEADER = "X-Capbroker-Approval"
DRY_RUN_HEADER = "X-Capbroker-Dry-Run"


def _dry_run(token: VerifiedToken) -> bool:
    """A token issued for dry runs only (``dry_run`` in its authorization details)."""
    return any(d.get("dry_run") is True for d in token.authorization_details)


def _header(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    wanted = name.lower().encode()
    values = [v for k, v in headers if k.lower() == wanted]
    return values[0].decode("latin-1")[:128] if len(values) == 1 else None


class RecordedDenial(Denied):
    """A denial whose decision event is already in the audit log (not written twice)."""


@dataclass
class ProviderRoute:
    name: str
    route_map: RouteMap
    upstream: str  # base URL without a trailing slash
    master_key_secret: str
    # Admin-kept: resource key -> environments; consulted before the map's own inventory.
    inventory: dict[str, tuple[str, ...]] = field(default_factory=dict)
    resolver: EnvironmentResolver | None = None


@dataclass
class Attempt:
    """What is known about a request so far: enough to audit a refusal at any step."""

    method: str
    raw_path: str
    provider: str = ""
    token: VerifiedToken | None = None
    canonical: CanonicalRequest | None = None
    classification: Classification | None = None
    resolved: list[ResolvedCall] = field(default_factory=list)
    body_sha256: str = ""
    approval_id: str | None = None
    dry_run: bool = False
    decision_seq: int = 0  # the decision event's place in this gateway's chain

    @property
    def path(self) -> str:
        return self.canonical.path if self.canonical else self.raw_path[:200]

    def audit_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"provider": self.provider, "method": self.method}
        data["path"] = self.path
        if self.token is not None:
            data.update(jti=self.token.jti, session=self.token.sid, template=self.token.template)
        if self.classification is not None:
            data["actions"] = sorted(self.classification.actions)
            data["resources"] = sorted({r for c in self.classification.calls for r in c.resources})
        if self.resolved:
            envs = {e for rc in self.resolved for e in (rc.environments or ())}
            data["environments"] = sorted(envs)
        return data

    @property
    def actor(self) -> str:
        return f"agent:{self.token.client_id}" if self.token is not None else "unauthenticated"


class Gateway:
    def __init__(
        self,
        *,
        providers: dict[str, ProviderRoute],
        keys: GatewayKeys,
        tokens: VerifiedTokens,
        master_keys: MasterKeys,
        db: Database,
        audit: AuditWriter,
        committer: GroupCommit,
        templates: TemplateService,
        approvals: ApprovalService,
        upstream: Upstream,
        clock: Clock,
        approval_base_url: str = "",
        poll_interval: float = 1.0,
        stale_after: float = 10.0,
        webhook: ApprovalWebhook | None = None,
        checkpointer: WalCheckpointer | None = None,
    ) -> None:
        self.providers = providers
        self.keys, self.tokens, self.master_keys = keys, tokens, master_keys
        self.db, self.audit, self.committer, self.templates = db, audit, committer, templates
        self.upstream, self.clock = upstream, clock
        self.approvals, self.approval_base_url = approvals, approval_base_url
        self.webhook = webhook
        self.checkpointer = checkpointer
        self.revocations = Revocations()
        self.poll_interval, self.stale_after = poll_interval, stale_after
        self._fresh_at = float("-inf")
        self._grants: dict[str, Grant] = {}
        self._completions: dict[str, list[dict[str, Any]]] = {}
        self._completions_lock = threading.Lock()
        self._poller: asyncio.Task[None] | None = None
        for route in providers.values():
            route.resolver = EnvironmentResolver(
                route.route_map, self._lookup_fetcher(route), clock=clock, inventory=route.inventory
            )

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.start()
        await self.upstream.start()
        self.keys.refresh()
        self.poll_revocations()
        self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def stop(self) -> None:
        await self.committer.drain()
        self.committer.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.upstream.close()

    def poll_revocations(self) -> None:
        now = self.clock()
        with self.db.read() as conn:
            self.revocations.poll(conn, now=now)
        self._fresh_at = now

    def _fetch_revocations(self) -> tuple[float, Changes]:
        now = self.clock()
        with self.db.read() as conn:
            return now, self.revocations.fetch(conn, now=now)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                # The read runs in a thread so a large change set never stalls requests.
                read_at, changes = await asyncio.to_thread(self._fetch_revocations)
                self.revocations.apply(changes)
                self._fresh_at = read_at
            except Exception as exc:  # keep polling; requests fail closed once stale
                log.warning("revocation poll failed: %s", type(exc).__name__)
            # Cheap (it touches only what expired), so every round.
            self.revocations.prune(now=self.clock())

    # --- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        if path in ("/healthz", "/readyz"):
            await self._health(path, send)
            return
        attempt = Attempt(scope["method"], path)
        started = time.perf_counter()
        try:
            await self._handle(scope, receive, send, attempt, started)
        except BrokerError as refusal:
            await self._refuse(send, attempt, refusal)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _health(self, path: str, send: Send) -> None:
        if path == "/healthz":
            await _json(send, 200, {"status": "ok"})
            return
        fresh = self.clock() - self._fresh_at < self.stale_after
        ready = fresh and bool(self.keys.known_any())
        await _json(
            send,
            200 if ready else 503,
            {
                "status": "ready" if ready else "not ready",
                "checks": {
                    "revocations": "ok" if fresh else "stale",
                    "jwks": "ok" if self.keys.known_any() else "empty",
                },
            },
        )

    # --- the pipeline ---------------------------------------------------------------------

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, attempt: Attempt, started: float
    ) -> None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        route, rest = self._route(attempt.raw_path)
        attempt.provider = route.name
        token = self._verify(headers, attempt)
        grant = self._grants.get(token.jti)
        if grant is None:
            if len(self._grants) > 100_000:
                self._grants.clear()
            grant = self._grants[token.jti] = grant_from_token(token)
        if grant.provider != route.name:
            raise Denied("the token is for another provider", reason=Reason.AUDIENCE_MISMATCH)
        if self.clock() - self._fresh_at > self.stale_after:
            raise Unavailable(
                "revocations are not current; refusing until they are",
                reason=Reason.DATABASE_UNAVAILABLE,
            )
        if self.revocations.revoked(token.jti, token.sid):
            raise Denied("the token has been revoked", reason=Reason.TOKEN_REVOKED)
        kill = self.revocations.killed(
            agent_id=token.sub, template=token.template, provider=grant.provider
        )
        if kill is not None:
            raise Denied(
                f"a kill switch stops {kill.scope} {kill.label}", reason=Reason.KILL_SWITCH
            )
        raw_query = scope.get("query_string", b"").decode("latin-1")
        text_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        canonical = canonical_request(
            attempt.method, rest, raw_query, text_headers, options=route.route_map.paths
        )
        attempt.canonical = canonical
        body, stream, matched = await self._body(route.route_map, canonical, headers, receive)
        classification = classify(route.route_map, canonical, body, matched=matched)
        attempt.classification = classification
        assert route.resolver is not None
        for call in classification.calls:
            attempt.resolved.append(ResolvedCall(call, await route.resolver.resolve(call)))
        if stream is not None and self._may_need_approval(grant):
            # An approval binds the exact body: read it (its length is within the cap).
            body, stream = b"".join([chunk async for chunk in stream]), None
        attempt.body_sha256 = hashlib.sha256(body).hexdigest()
        attempt.approval_id = _header(headers, APPROVAL_HEADER)
        attempt.dry_run = _dry_run(token) or (_header(headers, DRY_RUN_HEADER) or "") in (
            "1",
            "true",
        )
        decision = await self.committer.run(
            lambda tx: self._record_decision(tx, attempt, grant, classification)
        )
        if attempt.dry_run:
            await _json(
                send,
                200,
                {
                    "dry_run": True,
                    "decision": decision.outcome,
                    "reason": decision.reason.value if decision.reason else None,
                    "detail": decision.detail,
                    **{
                        k: v
                        for k, v in attempt.audit_data().items()
                        if k
                        in ("provider", "method", "path", "actions", "resources", "environments")
                    },
                },
            )
            return
        if not decision.allowed:
            assert decision.reason is not None
            if self.webhook is not None and "approval_id" in decision.extra:
                self.webhook.notify(self._approval_event(attempt, decision))
            raise RecordedDenial(decision.detail, reason=decision.reason, extra=decision.extra)
        status = await self._forward(route, canonical, headers, body, stream, send)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        # The decision is already durable; the completion rides along with a later batch.
        self._completed(attempt, status, elapsed_ms)

    def _route(self, raw_path: str) -> tuple[ProviderRoute, str]:
        _, _, remainder = raw_path.partition("/")
        name, slash, rest = remainder.partition("/")
        route = self.providers.get(name)
        if route is None:
            raise Denied("no such provider behind this gateway", reason=Reason.UNKNOWN_ROUTE)
        return route, slash + rest if slash else "/"

    def _verify(self, headers: list[tuple[bytes, bytes]], attempt: Attempt) -> VerifiedToken:
        values = [v for k, v in headers if k.lower() == b"authorization"]
        if len(values) != 1:
            raise InvalidToken("missing or repeated Authorization header")
        scheme, _, token = values[0].decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("not a Bearer token")
        verified = self.tokens.verify(token.strip())
        attempt.token = verified
        return verified

    async def _body(
        self,
        route_map: RouteMap,
        canonical: CanonicalRequest,
        headers: list[tuple[bytes, bytes]],
        receive: Receive,
    ) -> tuple[bytes, AsyncIterator[bytes] | None, tuple[Route, dict[str, str]]]:
        """The whole body when classification reads it (or its size is unknown); otherwise
        a stream forwarded as it arrives. The cap is enforced before anything is parsed.
        Also the request's route (which says whether classification reads the body)."""
        limit = route_map.body.max_bytes
        lengths = [v for k, v in headers if k.lower() == b"content-length"]
        codings = [v.strip().lower() for k, v in headers if k.lower() == b"transfer-encoding"]
        chunked = bool(codings)
        if codings and codings != [b"chunked"]:
            raise InvalidRequest(
                "only chunked transfer coding is accepted", extra={"refusal": "transfer_coding"}
            )
        if len(lengths) > 1 or (lengths and chunked):
            raise InvalidRequest("ambiguous message length", extra={"refusal": "ambiguous_length"})
        declared = int(lengths[0]) if lengths and lengths[0].isdigit() else None
        if lengths and declared is None:
            raise InvalidRequest("invalid Content-Length", extra={"refusal": "ambiguous_length"})
        if declared is not None and declared > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        matched = route_map.match(canonical.method, canonical.segments)
        route = matched[0]
        needs_body = isinstance(route, GraphQLSpec) or route.uses_body
        if declared is not None and not needs_body:
            if declared == 0:
                return b"", None, matched
            if canonical.method in ("GET", "HEAD"):
                raise InvalidRequest("a GET or HEAD request carries no body")
            return b"", _stream_body(receive, declared), matched
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(f"the body is larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None, matched

    def _may_need_approval(self, grant: Grant) -> bool:
        """Cheap and conservative: could any call under this grant be held for approval?"""
        if grant.approval_actions:
            return True
        with self.db.read() as conn:
            floor, _ = self.templates.floor(conn)
        return bool(floor.protected_environments)

    def _approval_event(self, attempt: Attempt, decision: Decision) -> dict[str, Any]:
        """What the approvers' webhook receives: the blast radius, never a secret."""
        data = attempt.audit_data()
        return {
            "type": "approval.requested",
            "approval_id": decision.extra["approval_id"],
            "approval_url": decision.extra["approval_url"],
            "agent": attempt.token.client_id if attempt.token else "",
            **{
                k: data.get(k)
                for k in (
                    "provider",
                    "method",
                    "path",
                    "actions",
                    "resources",
                    "environments",
                    "template",
                    "session",
                )
            },
        }

    def _approval(
        self, tx: Tx, attempt: Attempt, grant: Grant, classification: Classification
    ) -> Decision:
        """Hold the call for a human, or let a retry through on its granted approval, once."""
        assert attempt.token is not None
        assert attempt.canonical is not None
        canonical = attempt.canonical
        held = HeldCall(
            provider=attempt.provider,
            method=canonical.method,
            path=canonical.path,
            query=canonical.wire_query,
            body_sha256=attempt.body_sha256,
            actions=tuple(sorted(classification.actions)),
            resources=tuple(sorted({r for c in classification.calls for r in c.resources})),
            environments=tuple(
                sorted({e for rc in attempt.resolved for e in (rc.environments or ())})
            ),
        )
        if attempt.approval_id:
            verdict = self.approvals.consume_in(
                tx, attempt.approval_id, call=held, token=attempt.token
            )
            if verdict.allowed:
                return Decision(True, None, f"approval {attempt.approval_id} used")
            assert verdict.reason is not None
            return Decision(False, verdict.reason, verdict.detail, {"refusal": verdict.refusal})
        approval_id = self.approvals.hold_in(
            tx, call=held, effect=classification.effect, token=attempt.token, grant=grant
        )
        return Decision(
            False,
            Reason.APPROVAL_REQUIRED,
            "the call is held for a human's approval; retry it unchanged with the approval id"
            f" in the {APPROVAL_HEADER} header once it is granted",
            {
                "approval_id": approval_id,
                "approval_url": f"{self.approval_base_url}/v1/admin/approvals/{approval_id}",
            },
        )

    def _record_decision(
        self, tx: Tx, attempt: Attempt, grant: Grant, classification: Classification
    ) -> Decision:
        floor, floor_version = self.templates.floor(tx.conn)
        decision = decide(grant, floor, attempt.resolved)
        # A dry run changes nothing: no approval is held or used, no budget is counted.
        if (
            decision.reason is Reason.APPROVAL_REQUIRED
            and attempt.token is not None
            and not attempt.dry_run
        ):
            decision = self._approval(tx, attempt, grant, classification)
        if decision.allowed and attempt.token is not None and not attempt.dry_run:
            destructive = classification.effect == "destructive"
            if not count_call(tx, attempt.token.jti, grant, destructive=destructive):
                decision = Decision(
                    False, Reason.BUDGET_EXHAUSTED, "the token's call budget is spent"
                )
        data = attempt.audit_data()
        data["decision"] = decision.outcome
        data["detail"] = decision.detail
        data["policy_floor_version"] = floor_version
        data["dry_run"] = attempt.dry_run
        record = self.audit.append(
            tx,
            type="gateway.decision",
            actor=attempt.actor,
            subject=f"{attempt.provider}:{attempt.method} {attempt.path}",
            outcome="ok" if decision.allowed else "denied",
            reason=decision.reason.value if decision.reason else "",
            data=data,
        )
        attempt.decision_seq = record.seq
        return decision

    def _record_refusal(self, tx: Tx, attempt: Attempt, refusal: BrokerError) -> None:
        data = attempt.audit_data()
        data["decision"] = "deny"
        data["refusal"] = refusal_code(refusal)
        data["detail"] = (
            refusal.audit_detail if isinstance(refusal, InvalidToken) else refusal.detail
        )
        self.audit.append(
            tx,
            type="gateway.decision",
            actor=attempt.actor,
            subject=f"{attempt.provider or '?'}:{attempt.method} {data['path']}",
            outcome="denied" if refusal.status < 500 else "error",
            reason=refusal.reason.value,
            data=data,
        )

    def _completed(self, attempt: Attempt, status: int, elapsed_ms: float) -> None:
        """Queue a forwarded call's outcome; the first one queued since the last write asks
        for a write, and everything queued until then shares it."""
        call = {
            "decision_seq": attempt.decision_seq,
            "jti": attempt.token.jti if attempt.token else None,
            "provider": attempt.provider,
            "method": attempt.method,
            "path": attempt.path,
            "upstream_status": status,
            "latency_ms": elapsed_ms,
        }
        with self._completions_lock:
            asked = bool(self._completions)  # a write is already asked for until it takes them
            self._completions.setdefault(attempt.actor, []).append(call)
        if not asked:
            self.committer.defer(self._record_completions)

    def _record_completions(self, tx: Tx) -> None:
        """One ``gateway.completed`` event per agent for every call completed since the last
        one: half the rows of an event per call, and each call names its decision event."""
        with self._completions_lock:  # a PostgreSQL batch runs in a worker thread
            done, self._completions = self._completions, {}
        for actor, calls in done.items():
            self.audit.append(
                tx,
                type="gateway.completed",
                actor=actor,
                subject=f"{len(calls)} call(s)",
                data={"calls": calls},
            )

    async def _refuse(self, send: Send, attempt: Attempt, refusal: BrokerError) -> None:
        try:
            if not isinstance(refusal, RecordedDenial):
                await self.committer.run(lambda tx: self._record_refusal(tx, attempt, refusal))
        except BrokerError as audit_fault:  # cannot audit: still refuse, and say why
            refusal = audit_fault
        except Exception:
            refusal = Unavailable("the audit log is unavailable", reason=Reason.AUDIT_UNAVAILABLE)
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + refusal.reason.value,
            "title": refusal.title,
            "status": refusal.status,
            "detail": refusal.detail,
            "code": refusal.reason.value,
        }
        body.update(
            {
                k: v
                for k, v in refusal.extra.items()
                if k in ("refusal", "approval_id", "approval_url")
            }
        )
        await _json(send, refusal.status, body, problem=True)

    # --- upstream -----------------------------------------------------------------------------

    def _auth_header(self, route: ProviderRoute) -> tuple[str, str]:
        key = self.master_keys.get(route.master_key_secret)
        auth = route.route_map.auth
        return auth.header, auth.format.replace("{key}", key)

    def _lookup_fetcher(
        self, route: ProviderRoute
    ) -> Callable[[Any], Awaitable[tuple[int, object]]]:
        async def fetch(request: Any) -> tuple[int, object]:
            try:
                return await self.upstream.lookup(route.upstream, request, self._auth_header(route))
            except Unavailable:
                return 503, None  # unresolvable: the look-up's extract turns it into a denial

        return fetch

    async def _forward(
        self,
        route: ProviderRoute,
        canonical: CanonicalRequest,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        stream: AsyncIterator[bytes] | None,
        send: Send,
    ) -> int:
        listed = connection_listed(headers)
        out: list[tuple[str, str]] = []
        for name, value in headers:
            lower = name.lower()
            if (
                lower in HOP_BY_HOP
                or lower in UNTRUSTED_FORWARDING
                or lower in listed
                or lower == b"authorization"
                or lower == b"accept-encoding"
                or lower.startswith(CONTROL_PREFIX)
            ):
                continue
            out.append((name.decode("latin-1"), value.decode("latin-1")))
        out.append(self._auth_header(route))
        # A compressed answer would hide an echoed master key from the redactor.
        out.append(("Accept-Encoding", "identity"))
        url = route.upstream + canonical.wire_path
        if canonical.query:
            url += "?" + canonical.wire_query
        data: bytes | AsyncIterator[bytes] | None = stream if stream is not None else (body or None)
        response = await self.upstream.request(canonical.method, url, out, data)
        secrets = self.master_keys.all_cached()
        redactor = StreamRedactor(secrets)
        async with response:
            if response.headers.get("Content-Encoding", "identity").lower() != "identity":
                raise Unavailable(
                    "the provider sent an encoded body the gateway cannot inspect",
                    reason=Reason.UPSTREAM_UNAVAILABLE,
                )
            response_headers = [
                (k.lower(), redact_header_value(v, secrets))
                for k, v in response.raw_headers
                if k.lower() not in HOP_BY_HOP
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response_headers,
                }
            )
            async for chunk in response.content.iter_any():
                cleaned = redactor.feed(chunk)
                if cleaned:
                    await send({"type": "http.response.body", "body": cleaned, "more_body": True})
            await send(
                {"type": "http.response.body", "body": redactor.finish(), "more_body": False}
            )
        return response.status


async def _stream_body(receive: Receive, declared: int) -> AsyncIterator[bytes]:
    total = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > declared:  # more than announced: stop rather than forward it
            raise PayloadTooLarge("the body is longer than its Content-Length")
        yield chunk
        if not message.get("more_body", False):
            return


async def _json(send: Send, status: int, body: dict[str, Any], *, problem: bool = False) -> None:
    payload = json.dumps(body).encode()
    media = b"application/problem+json" if problem else b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
