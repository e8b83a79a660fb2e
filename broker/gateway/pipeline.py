"""The gateway's pipeline, in the order a request meets it; it returns a value.

1. ``route``: ``/{provider}/...`` names the provider
2. ``authenticate``: the capability token verified offline (cached until exp), presented
   as its DPoP binding asks (``sender``), for this provider, not revoked, not stopped by a
   kill switch; then our own control headers (dry run, approval) parsed strictly
3. ``headers``: what the provider may receive, from the route map's header allowlist
   (everything undeclared dropped; method overrides and '_' look-alikes refused)
4. ``framing``: method, path and query in canonical form; the body read only if
   classification needs it, otherwise streamed
5. classification with the provider's route map; then the policy floor, the token's actions,
   resources and budgets (``decide_before_lookups``), before any look-up is sent upstream
   with the master key; only then environments resolved on our own authority
6. ``recording``: decide (pure, ``decide``), hold or use approvals, count the budget (one
   per classified call), and write the decision to the audit log; only then
7. ``forward``: the token swapped for the master key (the transport streams the call)

``run`` ends in ``Forward``, ``DryRun`` or ``Refusal``. Every refusal is audited and
forwards nothing; any front end renders the value (``app.py`` is the ASGI one).
"""

from __future__ import annotations

import hashlib
import time

from broker.errors import BrokerError, Denied, Reason, Unavailable
from broker.gateway.authenticate import Authenticator
from broker.gateway.budgets import limited
from broker.gateway.decide import (
    BUDGET_SPENT,
    ResolvedCall,
    cost_of,
    decide_before_lookups,
    may_look_up,
)
from broker.gateway.forward import Forwarder
from broker.gateway.framing import canonicalise, read_body
from broker.gateway.headers import control_headers, outbound_headers
from broker.gateway.outcome import Attempt, DryRun, Forward, Outcome, Refusal
from broker.gateway.recording import Recorder
from broker.gateway.request import GatewayRequest
from broker.gateway.resolve import EnvironmentResolver
from broker.gateway.route import ProviderRoute, find_route
from broker.gateway.sender import CallTarget
from broker.routemap.classify import classify
from broker.tokens import VerifiedToken


def dry_run_token(token: VerifiedToken) -> bool:
    """A token issued for dry runs only (``dry_run`` in its authorization details)."""
    return any(d.get("dry_run") is True for d in token.authorization_details)


def _late() -> Unavailable:
    return Unavailable(
        "the call's decision took longer than the gateway waits for it; nothing was forwarded",
        reason=Reason.DECISION_TIMEOUT,
    )


def _gone() -> Unavailable:
    return Unavailable(
        "the client left before the call's decision; nothing was forwarded",
        reason=Reason.CLIENT_GONE,
    )


class Pipeline:
    def __init__(
        self,
        providers: dict[str, ProviderRoute],
        authenticator: Authenticator,
        recorder: Recorder,
        forwarder: Forwarder,
        *,
        decision_deadline: float = 10.0,
    ) -> None:
        self.providers = providers
        self.decision_deadline = decision_deadline
        self.authenticator, self.recorder, self.forwarder = authenticator, recorder, forwarder
        clock = authenticator.feed.clock
        for route in providers.values():
            route.resolver = EnvironmentResolver(
                route.route_map,
                forwarder.lookup_fetcher(route),
                clock=clock,
                inventory=route.inventory,
            )

    async def run(self, request: GatewayRequest) -> Outcome:
        """The one entry point for every front end; a refusal at any stage is a value.

        A call is forwarded only while its client waits: its decision durable within
        ``decision_deadline`` of its request being read and the client still connected. Otherwise
        nothing is forwarded and the audit log says why (``decision_timeout``,
        ``client_gone``), after the decision event if that was written."""
        attempt = Attempt(request.method, request.target, started=time.perf_counter())
        try:  # one frame for every stage: this runs for every request
            outcome = await self._decide(request, attempt)
        except BrokerError as error:
            return await self.refuse(attempt, error)
        if isinstance(outcome, Forward):
            # Checked once, after the decision: each wait before it is bounded on its own
            # (the database's wait, the look-ups' timeouts), and a timer per request cost
            # more than the rest of this check.
            if request.waiting is not None and request.waiting.gone():
                return self.abandon(attempt, _gone())
            if time.perf_counter() > attempt.waited_since + self.decision_deadline:
                return self.abandon(attempt, _late())
        return outcome

    async def _decide(self, request: GatewayRequest, attempt: Attempt) -> Outcome:
        route, rest = find_route(self.providers, request.target)  # 1
        attempt.provider = route.name
        signed = CallTarget(request.method, request.url)  # what a DPoP proof must sign
        token, grant = await self.authenticator.authenticate(  # 2
            request.headers, route, attempt, call=signed
        )
        control = control_headers(request.headers)  # before any look-up runs
        outbound = outbound_headers(request.headers, route.route_map.headers)  # 3
        attempt.approval_id = control.approval_id
        attempt.dry_run = control.dry_run or dry_run_token(token)
        canonical = attempt.canonical = canonicalise(  # 4
            request.method, rest, request.query, request.headers, route.route_map
        )
        body, stream, matched = await read_body(
            route.route_map, canonical, request.headers, request.body
        )
        # The client waits from here (a slow upload is the servers' body timeout's business).
        attempt.waited_since = time.perf_counter()
        if stream is None and request.waiting is not None:
            request.waiting.watch()  # the body is read: from now on, notice a client leaving
        classification = attempt.classification = classify(  # 5
            route.route_map, canonical, body, matched=matched
        )
        calls = classification.calls
        early = decide_before_lookups(grant, await self.recorder.current_floor(), calls)
        if (  # a spent budget is known before look-ups too (a dry run spends none)
            early is None
            and not attempt.dry_run
            and limited(grant)
            and may_look_up(calls)
            and await self.recorder.over_budget(
                token.jti, grant, cost_of(classification), attempt.ancestors
            )
        ):
            early = BUDGET_SPENT
        if (
            early is None
            and attempt.approval_id
            and not attempt.dry_run
            and self.recorder.may_be_held(grant, calls)
        ):
            # a spent approval is refused as such, before any look-up
            early = await self.recorder.spent_approval(attempt)
        if early is None:
            # The master key, for look-ups and forwarding: read off the loop, or cached.
            await self.forwarder.master_keys.load(route.master_key)
            assert route.resolver is not None
            for call in calls:
                attempt.resolved.append(ResolvedCall(call, await route.resolver.resolve(call)))
            if stream is not None and self.recorder.may_need_approval(grant):
                # An approval binds the exact body: read it (its length is within the cap).
                body, stream = b"".join([chunk async for chunk in stream]), None
        attempt.body_sha256 = hashlib.sha256(body).hexdigest()
        attempt.headers = tuple(outbound)
        decision = await self.recorder.decision(attempt, grant, classification, early)  # 6
        self.recorder.announce(attempt, decision)
        if attempt.dry_run:
            return DryRun(decision, attempt)
        if not decision.allowed:
            assert decision.reason is not None
            denial = Denied(decision.detail, reason=decision.reason, extra=decision.extra)
            return Refusal(denial, attempt)  # its decision event is the refusal's record
        return self.forwarder.prepare(route, canonical, outbound, body, stream, attempt)  # 7

    async def refuse(self, attempt: Attempt, error: BrokerError) -> Refusal:
        """A refusal at any step (forwarding too), written to the audit log. When the
        database itself is what failed, the record is queued instead of awaited: the
        caller is answered at once, and the record follows once the database answers."""
        if error.reason is Reason.DATABASE_UNAVAILABLE:
            return self.abandon(attempt, error)
        return Refusal(await self.recorder.refusal(attempt, error), attempt)

    def abandon(self, attempt: Attempt, error: BrokerError) -> Refusal:
        """Nothing is forwarded; the refusal is recorded after the decision (if that was
        written, or is still queued), naming it."""
        self.recorder.refusal_later(attempt, error)
        return Refusal(error, attempt)

    def completed(self, forward: Forward, status: int, *, ended: str | None = None) -> None:
        """The forwarded call's outcome; it rides along with a later batch (the decision
        is already durable). ``ended``: how an answer that did not end whole ended."""
        attempt = forward.attempt
        elapsed_ms = round((time.perf_counter() - attempt.started) * 1000, 2)
        self.recorder.completed(attempt, status, elapsed_ms, ended=ended)
