"""``capbroker demo``: the incident, replayed against capbroker, and shown stopped.

An agent on a staging task holds a capability token for staging. It reads and changes
things in staging. Then it makes the incident's call: ``volumeDelete`` on a volume that
production uses too. The gateway asks the provider itself which environments use that
volume, sees production, and refuses. Deleting a backup is refused by the policy floor.
The raw token against the provider fails: the agent never held the master key. A
destructive call inside the grant waits for a human and passes once. Everything runs on
loopback with the embedded default, in seconds.

By default the provider is a replica of Railway's public API, with its real schema
(``broker.demo.railway``) behind the shipped ``railway`` map; ``--provider
railway-demo`` replays it on the small teaching provider. The calls are data
(``broker.demo.scenarios``); this module runs them.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from broker.api.app import create_app
from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.clock import system_clock
from broker.demo.provider import ProviderState, create_provider_app
from broker.demo.provider.server import ServerThread
from broker.demo.proxy_scene import RAILWAY_HOST, ProxyAccess, proxy_scene
from broker.demo.railway import serve_replica
from broker.demo.scenarios import Scenario, railway, teaching
from broker.demo.world import (
    RAILWAY,
    build_world,
    demo_seed,
    provider_route,
    railway_demo_seed,
    serve_gateway,
)
from broker.gateway.factory import build_gateway
from broker.gateway.proxy.ca import LeafCache, load_or_create_ca
from broker.gateway.proxy.serve import FrontEndsThread
from broker.services.container import Services
from broker.settings import Settings

PROVIDERS = (RAILWAY, "railway-demo")


@dataclass
class Step:
    title: str
    expect: str  # "200" or a reason code
    got: str = ""
    detail: str = ""

    @property
    def held(self) -> bool:
        return self.got == self.expect


def _outcome(response: httpx.Response) -> tuple[str, str]:
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        body = response.json()
        return str(body.get("code")), str(body.get("detail", ""))
    if response.status_code == 200:
        data = response.json()
        if isinstance(data, dict) and data.get("errors"):
            return "graphql-error", str(data["errors"][0].get("message", ""))
        return "200", json_preview(data)
    return str(response.status_code), response.text[:120]


def json_preview(data: Any) -> str:
    text = json.dumps(data.get("data", data) if isinstance(data, dict) else data)
    return text if len(text) <= 110 else text[:107] + "..."


@dataclass
class _Provider:
    url: str  # the provider's base URL
    scenario: Scenario


@contextlib.contextmanager
def _provider(name: str, master_key: str, admin_token: str) -> Iterator[_Provider]:
    if name == RAILWAY:
        replica = serve_replica(master_key, admin_token)
        with replica:
            yield _Provider(replica.url, railway(replica.state))
        return
    state = ProviderState(system_clock)
    server = ServerThread(
        create_provider_app(master_key, admin_token, clock=system_clock, state=state)
    ).start()
    try:
        yield _Provider(server.url, teaching(state))
    finally:
        server.stop()


def run_demo(
    say: Callable[[str], None],
    *,
    keep: Path | None = None,
    provider: str = RAILWAY,
    proxy: bool = False,
) -> bool:
    if provider not in PROVIDERS:
        raise ValueError(f"no demo for provider {provider!r}")
    if proxy and provider != RAILWAY:
        raise ValueError("the proxy step runs on the Railway replica (--provider railway)")
    data_dir = keep or Path(tempfile.mkdtemp(prefix="capbroker-demo-"))
    master_key, admin_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    broker_server: ServerThread | None = None
    gateway_server: ServerThread | FrontEndsThread | None = None
    started = time.monotonic()
    with _provider(provider, master_key, admin_token) as upstream:
        scenario = upstream.scenario
        say(scenario.intro)
        say(f"  data directory: {data_dir}")
        try:
            # The broker: port chosen first so the issuer in every token names it.
            port = _free_port()
            settings = Settings(data_dir=data_dir, port=port)
            seed = railway_demo_seed if provider == RAILWAY else demo_seed
            world = build_world(settings, seed(master_key), writer="demo-broker")
            services = world.services
            broker_server = ServerThread(create_app(services), port=port).start()
            routes = {provider: provider_route(provider, upstream.url)}
            access: ProxyAccess | None = None
            if proxy:
                routes[provider].hosts = (RAILWAY_HOST,)
                gateway = build_gateway(settings, routes, poll_interval=0.2)
                ca = load_or_create_ca(services.secrets, system_clock)
                gateway_server = FrontEndsThread(gateway, LeafCache(ca, system_clock)).start()
                access = ProxyAccess("127.0.0.1", gateway_server.proxy_port, ca.pem())
            else:
                gateway, gateway_server = serve_gateway(settings, routes, poll_interval=0.2)
            say(
                f"  provider {upstream.url}   broker {broker_server.url}"
                f"   gateway {gateway_server.url}"
            )
            say("")
            urls = _Urls(broker_server.url, gateway_server.url, upstream.url)
            agent = world.credential("claude-code")
            ok = _scenes(say, urls, scenario, agent, world.credential("alice"))
            say("")
            if access is not None:
                ok = _with_session(say, urls, scenario, agent, access) and ok
                say("")
            ok = _audit_trail(say, services) and ok
            say(
                f"Finished in {time.monotonic() - started:.1f}s: "
                + ("every expectation held." if ok else "SOME EXPECTATIONS FAILED.")
            )
            services.close()
            gateway.store.db.engine.dispose()
            return ok
        finally:
            for server in (gateway_server, broker_server):
                if server is not None:
                    server.stop()


def _with_session(
    say: Callable[[str], None],
    urls: _Urls,
    scenario: Scenario,
    credential: str,
    access: ProxyAccess,
) -> bool:
    """The proxy step, in a session of its own (the first one has ended)."""
    agent = {"Authorization": f"Bearer {credential}"}
    with httpx.Client(timeout=10) as client:
        r = client.post(
            f"{urls.broker}/v1/tokens",
            headers=agent,
            json={"template": scenario.template, "environment": scenario.environment},
        )
        if r.status_code != 201:
            say(f"6. token request failed: {r.status_code} {r.text[:200]}")
            return False
        issued = r.json()
        try:
            return proxy_scene(say, access, issued["access_token"])
        finally:
            client.post(f"{urls.broker}/v1/sessions/{issued['session_id']}/end", headers=agent)


@dataclass(frozen=True)
class _Urls:
    broker: str
    gateway: str
    provider: str


def _audit_trail(say: Callable[[str], None], services: Services) -> bool:
    """Show the audit trail (newest last) and whether every chain verifies."""
    say("Audit trail (newest last):")
    with services.db.read() as conn:
        events = list(reversed(query_events(conn, AuditQuery(limit=40))))
        reports = verify_all(conn)
    for e in events:
        if e["type"] != "audit.chain_opened":
            say(_event_line(e))
    intact = all(r.ok for r in reports)
    total = sum(r.events for r in reports)
    say("")
    say(
        f"Audit chains: {len(reports)} chains, {total} events, "
        + ("verified intact" if intact else "NOT INTACT")
    )
    return intact


def _event_line(e: dict[str, Any]) -> str:
    reason = f" [{e['reason']}]" if e["reason"] else ""
    what = e["subject"][:52]
    if e["type"] == "gateway.decision":
        what = " ".join(e["data"].get("actions", [])) or what
        envs = e["data"].get("environments")
        what += f" in {','.join(envs)}" if envs else ""
    elif e["type"] == "gateway.completed":
        what = ", ".join(
            f"#{c['decision_seq']} upstream {c['upstream_status']} in {c['latency_ms']} ms"
            for c in e["data"]["calls"]
        )[:52]
    return f"  {e['type']:<18} {e['outcome']:<7} {e['actor']:<18} {what}{reason}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scenes(
    out: Callable[[str], None], urls: _Urls, scenario: Scenario, credential: str, approver: str
) -> bool:
    def alias(text: str) -> str:
        for ident, name in scenario.aliases.items():
            text = text.replace(ident, name)
        return text

    def say(line: str) -> None:
        out(alias(line))

    client = httpx.Client(timeout=10)
    say("1. At session start the agent exchanges its own credential for a capability token.")
    r = client.post(
        f"{urls.broker}/v1/tokens",
        headers={"Authorization": f"Bearer {credential}"},
        json={"template": scenario.template, "environment": scenario.environment},
    )
    if r.status_code != 201:
        say(f"   token request failed: {r.status_code} {r.text[:200]}")
        return False
    issued = r.json()
    token = issued["access_token"]
    say(
        f"   granted: {issued['environment']} only, {len(issued['actions'])} actions, "
        f"expires in {issued['expires_in']}s (session {issued['session_id'][:8]}...)"
    )
    say("   the token names that environment; the provider's master key stays in the secret store.")
    if scenario.aliases:
        names = ", ".join(f"{name} for {ident}" for ident, name in scenario.aliases.items())
        out(f"   (environments are named <project id>/<name>; shown below with {names})")
    say("")

    def call(query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return client.post(
            f"{urls.gateway}/{scenario.provider}{scenario.endpoint}",
            headers={"Authorization": f"Bearer {token}"},
            json={"query": query, "variables": variables or {}},
        )

    say("2. The agent works through the gateway:")
    all_held = True
    steps = [(Step(c.title, c.expect), c.query, c.variables) for c in scenario.calls]
    direct = Step("call the provider directly with the capability token", "401")
    for number, (step, query, variables) in enumerate(steps, 1):
        step.got, detail = _outcome(call(query, variables))
        step.detail = alias(detail)
        all_held &= _report(say, number, step)
    raw = client.post(
        f"{urls.provider}{scenario.endpoint}",
        headers={"Authorization": f"Bearer {token}"},
        json={"query": scenario.direct},
    )
    direct.got, direct.detail = _direct_outcome(raw)
    all_held &= _report(say, len(steps) + 1, direct)
    survived = scenario.survived()
    say("")
    say(
        f"3. What the provider holds afterwards: {scenario.survived_text} "
        + ("still exist." if survived else "ARE GONE.")
    )
    all_held &= survived
    say("")
    all_held &= _approval_scene(say, client, urls.broker, call, credential, approver, scenario)
    say("")

    say("5. The session ends; the gateway learns of the revocation within a second.")
    client.post(
        f"{urls.broker}/v1/sessions/{issued['session_id']}/end",
        headers={"Authorization": f"Bearer {credential}"},
    )
    revoked = Step("read after the session ended", "token_revoked")
    first = scenario.calls[0]
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        revoked.got, revoked.detail = _outcome(call(first.query, first.variables))
        if revoked.held:
            break
        time.sleep(0.1)
    say(f"   [{'ok ' if revoked.held else 'FAIL'}] {revoked.title} -> {revoked.got}")
    client.close()
    return all_held and revoked.held


def _report(say: Callable[[str], None], number: int, step: Step) -> bool:
    mark = "ok " if step.held else "FAIL"
    say(f"   [{mark}] {number}. {step.title}")
    say(
        f"          -> {step.got}: {step.detail[:110]}"
        + ("" if step.held else f" (expected {step.expect})")
    )
    return step.held


def _direct_outcome(response: httpx.Response) -> tuple[str, str]:
    """The provider's own refusal of a token it never issued: HTTP 401, or (as Railway
    answers) HTTP 200 with a ``Not Authorized`` GraphQL error."""
    got, detail = _outcome(response)
    if got == "graphql-error" and "not authorized" in detail.lower():
        return "401", f"{response.status_code}: {detail}"
    return got, detail


def _approval_scene(
    say: Callable[[str], None],
    client: httpx.Client,
    broker: str,
    call: Callable[..., httpx.Response],
    credential: str,
    approver: str,
    scenario: Scenario,
) -> bool:
    """A destructive call the template allows in staging still waits for a human, and the
    human's yes lets exactly that call through, once."""
    plan = scenario.held
    say("4. A destructive call inside the grant waits for a human:")
    held = call(plan.query, plan.variables)
    got = _outcome(held)[0]
    approval = held.json().get("approval_id", "") if got == "approval_required" else ""
    say(f"   [{'ok ' if approval else 'FAIL'}] {plan.title} -> {got}")
    if not approval:
        return False
    admin = {"Authorization": f"Bearer {approver}"}
    shown = client.get(f"{broker}/v1/admin/approvals/{approval}", headers=admin).json()
    say(
        f"   the approver sees: {' '.join(shown['actions'])} on {', '.join(shown['resources'])}"
        f" in {', '.join(shown['environments'])}, asked by {shown['agent']}"
        f" under {shown['template']} v{shown['template_version']}"
    )
    by_agent = client.post(
        f"{broker}/v1/admin/approvals/{approval}/approve",
        headers={"Authorization": f"Bearer {credential}"},
    )
    agent_refused = by_agent.status_code == 403  # insufficient_scope (RFC 6750)
    say(
        f"   [{'ok ' if agent_refused else 'FAIL'}] the agent tries to approve it itself"
        f" -> {by_agent.json().get('code')}"
    )
    granted = client.post(f"{broker}/v1/admin/approvals/{approval}/approve", headers=admin)
    say(f"   a human (admin alice) approves -> {granted.json().get('status')}")
    other = _outcome(call(plan.query, plan.swapped))[0]
    changed = other == "environment_not_granted"
    say(f"   [{'ok ' if changed else 'FAIL'}] {plan.swapped_title} -> {other}")

    def retry() -> httpx.Response:
        return client.post(
            held.request.url,
            content=held.request.content,
            headers={
                "Authorization": held.request.headers["Authorization"],
                "Content-Type": "application/json",
                "X-Capbroker-Approval": approval,
            },
        )

    first = _outcome(retry())[0]
    second = _outcome(retry())[0]
    once = first == "200" and second == "approval_denied"
    say(
        f"   [{'ok ' if first == '200' else 'FAIL'}] the exact call, retried with the approval"
        f" -> {first}"
    )
    say(f"   [{'ok ' if once else 'FAIL'}] the same approval again -> {second}")
    done = plan.done()
    say(f"   the provider: {plan.done_text}." if done else "   the provider: UNEXPECTED state.")
    return agent_refused and changed and once and done
