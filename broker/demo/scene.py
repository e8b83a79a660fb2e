"""``capbroker demo``: the incident, replayed against capbroker, and shown stopped.

An agent on a staging task holds a capability token for staging. It reads, redeploys and
changes a variable in staging. Then it makes the incident's call: ``volumeDelete`` on a
volume whose id production shares. The gateway asks the provider itself which
environments use that volume, sees production, and refuses. Deleting a backup is refused
by the policy floor. The raw token against the provider fails: the agent never held the
master key. Everything runs on loopback with the embedded default, in seconds.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from broker.api.app import create_app
from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.clock import system_clock
from broker.demo.provider import ProviderState, create_provider_app
from broker.demo.provider.server import ServerThread
from broker.demo.provider.state import UnknownObject
from broker.demo.world import PROVIDER, build_world, demo_seed, provider_route, serve_gateway
from broker.services.container import Services
from broker.settings import Settings


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
    import json

    text = json.dumps(data.get("data", data) if isinstance(data, dict) else data)
    return text if len(text) <= 110 else text[:107] + "..."


def run_demo(say: Callable[[str], None], *, keep: Path | None = None) -> bool:
    data_dir = keep or Path(tempfile.mkdtemp(prefix="capbroker-demo-"))
    master_key, admin_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    state = ProviderState(system_clock)
    provider = ServerThread(
        create_provider_app(master_key, admin_token, clock=system_clock, state=state)
    )
    broker_server: ServerThread | None = None
    gateway_server: ServerThread | None = None
    started = time.monotonic()
    say("capbroker demo: replaying the incident (staging agent, volume shared with production)")
    say(f"  data directory: {data_dir}")
    provider.start()
    try:
        # The broker: port chosen first so the issuer in every token names it.
        broker_server_port = _free_port()
        settings = Settings(data_dir=data_dir, port=broker_server_port)
        world = build_world(settings, demo_seed(master_key), writer="demo-broker")
        services = world.services
        approver_credential = world.credential("alice")
        agent_credential = world.credential("claude-code")
        broker_server = ServerThread(create_app(services), port=broker_server_port).start()
        routes = {PROVIDER: provider_route(PROVIDER, provider.url)}
        gateway, gateway_server = serve_gateway(settings, routes, poll_interval=0.2)
        say(
            f"  provider {provider.url}   broker {broker_server.url}   gateway {gateway_server.url}"
        )
        say("")
        ok = _scenes(
            say,
            broker_server.url,
            gateway_server.url,
            provider.url,
            agent_credential,
            state,
            approver_credential,
        )
        say("")
        intact = _audit_trail(say, services)
        ok = ok and intact
        say(
            f"Finished in {time.monotonic() - started:.1f}s: "
            + ("every expectation held." if ok else "SOME EXPECTATIONS FAILED.")
        )
        services.close()
        gateway.store.db.engine.dispose()
        return ok
    finally:
        for server in (gateway_server, broker_server, provider):
            if server is not None:
                server.stop()


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
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exists(state: ProviderState, volume_id: str) -> bool:
    try:
        state.volume(volume_id)
    except UnknownObject:
        return False
    return True


def _approval_scene(
    say: Callable[[str], None],
    client: httpx.Client,
    broker: str,
    call: Callable[..., httpx.Response],
    credential: str,
    approver: str,
    state: ProviderState,
) -> bool:
    """A destructive call the template allows in staging still waits for a human, and the
    human's yes lets exactly that call through, once."""
    say("4. A destructive call inside the grant waits for a human:")
    delete = "mutation($v: ID!) { volumeDelete(volumeId: $v) }"
    held = call(delete, {"v": "vol-cache"})
    got = _outcome(held)[0]
    approval = held.json().get("approval_id", "") if got == "approval_required" else ""
    ok = bool(approval)
    say(f"   [{'ok ' if ok else 'FAIL'}] volumeDelete on vol-cache (staging only) -> {got}")
    if not ok:
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
    agent_refused = by_agent.status_code == 401
    say(
        f"   [{'ok ' if agent_refused else 'FAIL'}] the agent tries to approve it itself"
        f" -> {by_agent.json().get('code')}"
    )
    granted = client.post(f"{broker}/v1/admin/approvals/{approval}/approve", headers=admin)
    say(f"   a human (admin alice) approves -> {granted.json().get('status')}")
    other = _outcome(call(delete, {"v": "vol-pg"}))[0]
    changed = other == "environment_not_granted"
    say(f"   [{'ok ' if changed else 'FAIL'}] the agent swaps in vol-pg -> {other}")

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
    # Either refusal shows the approval is spent: which environments use a volume is a
    # mutable relation, so a destructive call looks it up again, and the volume is gone.
    once = first == "200" and second in ("approval_denied", "environment_unresolved")
    say(
        f"   [{'ok ' if first == '200' else 'FAIL'}] the exact call, retried with the approval"
        f" -> {first}"
    )
    say(f"   [{'ok ' if once else 'FAIL'}] the same approval again -> {second}")
    gone = not _exists(state, "vol-cache") and _exists(state, "vol-pg")
    say(
        "   the provider: vol-cache deleted, vol-pg untouched."
        if gone
        else "   the provider: UNEXPECTED volume state."
    )
    return agent_refused and changed and once and gone


def _scenes(
    say: Callable[[str], None],
    broker: str,
    gateway: str,
    provider: str,
    credential: str,
    state: ProviderState,
    approver: str,
) -> bool:
    client = httpx.Client(timeout=10)
    say("1. At session start the agent exchanges its own credential for a capability token.")
    r = client.post(
        f"{broker}/v1/tokens",
        headers={"Authorization": f"Bearer {credential}"},
        json={"template": "staging-agent", "environment": "staging"},
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
    say("   the token names staging; the provider's master key stays in the secret store.")
    say("")

    def call(query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return client.post(
            f"{gateway}/{PROVIDER}/graphql",
            headers={"Authorization": f"Bearer {token}"},
            json={"query": query, "variables": variables or {}},
        )

    steps: list[tuple[Step, Callable[[], httpx.Response]]] = [
        (Step("read the projects", "200"), lambda: call("{ projects { id name } }")),
        (
            Step("list staging deployments", "200"),
            lambda: call('{ deployments(environmentId: "env-staging") { id status } }'),
        ),
        (
            Step("redeploy the api service in staging", "200"),
            lambda: call(
                'mutation { deploymentRedeploy(environmentId: "env-staging", '
                'serviceId: "svc-api") { id status } }'
            ),
        ),
        (
            Step("change a variable in staging", "200"),
            lambda: call(
                'mutation { variableUpsert(environmentId: "env-staging", serviceId: '
                '"svc-api", name: "LOG_LEVEL", value: "debug") { name } }'
            ),
        ),
        (
            Step(
                "THE INCIDENT: volumeDelete on vol-pg (its id is shared with production)",
                "environment_not_granted",
            ),
            lambda: call("mutation($v: ID!) { volumeDelete(volumeId: $v) }", {"v": "vol-pg"}),
        ),
        (
            Step("the same call hidden behind an alias in a fragment", "environment_not_granted"),
            lambda: call(
                "mutation { ...Tidy } fragment Tidy on Mutation "
                '{ cleanup: volumeDelete(volumeId: "vol-pg") }'
            ),
        ),
        (
            Step("delete the volume's staging backup", "forbidden_verb"),
            lambda: call('mutation { volumeBackupDelete(backupId: "bkp-pg-2") }'),
        ),
        (
            Step("redeploy in production", "environment_not_granted"),
            lambda: call(
                'mutation { deploymentRedeploy(environmentId: "env-production", '
                'serviceId: "svc-api") { id } }'
            ),
        ),
        (
            Step("call the provider directly with the capability token", "401"),
            lambda: client.post(
                f"{provider}/graphql",
                headers={"Authorization": f"Bearer {token}"},
                json={"query": 'mutation { volumeDelete(volumeId: "vol-pg") }'},
            ),
        ),
    ]
    say("2. The agent works through the gateway:")
    all_held = True
    for number, (step, send) in enumerate(steps, 1):
        step.got, step.detail = _outcome(send())
        all_held &= step.held
        mark = "ok " if step.held else "FAIL"
        say(f"   [{mark}] {number}. {step.title}")
        say(
            f"          -> {step.got}: {step.detail[:110]}"
            + ("" if step.held else f" (expected {step.expect})")
        )
    survived = _exists(state, "vol-pg") and bool(state.volume_backups("vol-pg"))
    say("")
    say(
        "3. What the provider holds afterwards: vol-pg and its backups "
        + ("still exist in staging and production." if survived else "ARE GONE.")
    )
    all_held &= survived
    say("")
    all_held &= _approval_scene(say, client, broker, call, credential, approver, state)
    say("")

    say("5. The session ends; the gateway learns of the revocation within a second.")
    client.post(
        f"{broker}/v1/sessions/{issued['session_id']}/end",
        headers={"Authorization": f"Bearer {credential}"},
    )
    revoked = Step("read the projects after the session ended", "token_revoked")
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        revoked.got, revoked.detail = _outcome(call("{ projects { id } }"))
        if revoked.held:
            break
        time.sleep(0.1)
    say(f"   [{'ok ' if revoked.held else 'FAIL'}] {revoked.title} -> {revoked.got}")
    client.close()
    return all_held and revoked.held
