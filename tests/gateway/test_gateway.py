"""The gateway end to end over real sockets: the incident call refused, reads and deploys
through with the master key injected, every refusal a problem+json that reached nobody."""

from __future__ import annotations

import time

import httpx

from tests.support.stack import PROVIDER, Stack

VOLUME_DELETE = "mutation($v: ID!) { volumeDelete(volumeId: $v) }"
PROJECTS = "{ projects { id name } }"
REDEPLOY = (
    'mutation { deploymentRedeploy(environmentId: "env-staging", serviceId: "svc-api")'
    " { id status } }"
)


def problem(r: httpx.Response, status: int, code: str) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


def test_reads_and_staging_redeploy_go_through_with_the_master_key(stack: Stack) -> None:
    token = stack.token()
    r = stack.call(token, PROJECTS)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["projects"][0]["id"] == "proj-acme"
    r = stack.call(token, REDEPLOY)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["deploymentRedeploy"]["status"] == "SUCCESS"
    # the gateway's own look-up (environment id -> name) ran between the two calls
    assert stack.executed_fields() == ["projects", "environment", "deploymentRedeploy"]
    # the provider saw the master key, never the capability token
    assert all(e["auth"] == "ok" for e in stack.upstream_log())


def test_the_incident_call_is_refused_because_the_volume_is_also_production(stack: Stack) -> None:
    token = stack.token()
    r = stack.call(token, VOLUME_DELETE, {"v": "vol-pg"})
    body = problem(r, 403, "environment_not_granted")
    assert "production" in body["detail"]
    assert "volumeDelete" not in stack.executed_fields()


def test_production_redeploy_refused_for_a_staging_token(stack: Stack) -> None:
    r = stack.call(stack.token(), REDEPLOY.replace("env-staging", "env-production"))
    problem(r, 403, "environment_not_granted")
    assert "deploymentRedeploy" not in stack.executed_fields()


def test_backup_delete_refused_by_the_floor(stack: Stack) -> None:
    r = stack.call(stack.token(), 'mutation { volumeBackupDelete(backupId: "bkp-pg-2") }')
    problem(r, 403, "forbidden_verb")


def test_action_not_in_token(stack: Stack) -> None:
    token = stack.token(actions=("project:read",))
    problem(stack.call(token, REDEPLOY), 403, "verb_not_granted")


def test_approval_actions_are_held(stack: Stack) -> None:
    q = 'mutation { variableDelete(environmentId: "env-staging", serviceId: "svc-api", name: "X") }'
    problem(stack.call(stack.token(), q), 403, "approval_required")


def test_aliases_and_batches_cannot_smuggle_a_mutation(stack: Stack) -> None:
    token = stack.token()
    q = '{ projects { id } } mutation M { harmless: volumeDelete(volumeId: "vol-pg") }'
    r = httpx.post(
        f"{stack.url}/{PROVIDER}/graphql",
        timeout=10,
        json={"query": q, "operationName": "M"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code in (400, 403), r.text
    batch = [{"query": PROJECTS}, {"query": VOLUME_DELETE, "variables": {"v": "vol-pg"}}]
    r = httpx.post(
        f"{stack.url}/{PROVIDER}/graphql",
        json=batch,
        timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    )
    problem(r, 403, "environment_not_granted")
    # only the gateway's own look-ups ran upstream; none of the agent's fields did
    assert set(stack.executed_fields()) <= {"volume"}


def test_token_problems(stack: Stack) -> None:
    problem(stack.call("not-a-token", PROJECTS), 401, "token_invalid")
    r = httpx.post(f"{stack.url}/{PROVIDER}/graphql", json={"query": PROJECTS}, timeout=10)
    problem(r, 401, "token_invalid")
    r = httpx.post(
        f"{stack.url}/{PROVIDER}/graphql",
        json={"query": PROJECTS},
        timeout=10,
        headers={"Authorization": f"Bearer {stack.master_key}"},
    )
    body = problem(r, 401, "token_invalid")
    assert stack.master_key not in str(body)
    assert stack.upstream_log() == []


def test_revocation_reaches_the_gateway_within_a_second(stack: Stack) -> None:
    issued = stack.services.issuance.issue(
        stack.agent,
        __import__("broker.domain.grants", fromlist=["GrantRequest"]).GrantRequest(
            "demo-staging", "staging"
        ),
    )
    assert stack.call(issued.access_token, PROJECTS).status_code == 200
    admin = stack.services.principals.create("admin", "ops", actor="t").credential
    caller = stack.services.authenticate(admin, kind="admin")
    stack.services.issuance.end_session(caller, issued.session_id)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        r = stack.call(issued.access_token, PROJECTS)
        if r.status_code == 401 or r.status_code == 403:
            break
        time.sleep(0.05)
    problem(r, 403, "token_revoked")


def test_budget_is_enforced(stack: Stack) -> None:
    token = stack.token()
    for _ in range(25):
        assert stack.call(token, PROJECTS).status_code == 200
    problem(stack.call(token, PROJECTS), 403, "budget_exhausted")


def test_every_decision_is_in_the_audit_chain(stack: Stack) -> None:
    token = stack.token()
    stack.call(token, PROJECTS)
    stack.call(token, VOLUME_DELETE, {"v": "vol-pg"})
    stack.call("garbage", PROJECTS)
    from broker.audit.reader import AuditQuery, query_events, verify_all

    with stack.services.db.read() as conn:
        events = query_events(conn, AuditQuery(type="gateway.decision", limit=10))
        assert all(r.ok for r in verify_all(conn))
    reasons = sorted(e["reason"] for e in events)
    assert reasons == ["", "environment_not_granted", "token_invalid"], events
    text = str(events)
    assert token not in text
    assert stack.master_key not in text


def test_rollback_resolves_the_deployments_environment(stack: Stack) -> None:
    token = stack.token()
    r = stack.call(token, '{ deployments(environmentId: "env-production") { id } }')
    problem(r, 403, "environment_not_granted")
    staging = stack.call(token, '{ deployments(environmentId: "env-staging") { id } }')
    deployment_id = staging.json()["data"]["deployments"][0]["id"]
    r = stack.call(
        token, "mutation($d: ID!) { deploymentRollback(id: $d) { status } }", {"d": deployment_id}
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["deploymentRollback"]["status"] == "SUCCESS"


def test_every_forwarded_call_has_one_completion_naming_its_decision(stack: Stack) -> None:
    """Completions are batched (one event per agent per write); each call is in exactly one,
    pointing at its own decision event in the gateway's chain."""
    from concurrent.futures import ThreadPoolExecutor

    from broker.audit.reader import AuditQuery, query_events, verify_all

    token = stack.token()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: stack.call(token, PROJECTS), range(24)))
    assert all(r.status_code == 200 for r in answers)

    def gateway_events() -> list[dict]:  # type: ignore[type-arg]
        with stack.services.db.read() as conn:
            return [
                e
                for e in query_events(conn, AuditQuery(limit=1000))
                if e["type"].startswith("gateway.")
            ]

    for _ in range(100):  # bounded: the deferred write lands within ~0.1 s
        events = gateway_events()
        completed = [
            c for e in events if e["type"] == "gateway.completed" for c in e["data"]["calls"]
        ]
        if len(completed) >= 24:
            break
        time.sleep(0.05)
    decisions = {e["seq"]: e for e in events if e["type"] == "gateway.decision"}
    assert len(decisions) == 24
    assert len(completed) == 24
    assert sorted(c["decision_seq"] for c in completed) == sorted(decisions)
    for c in completed:
        decision = decisions[c["decision_seq"]]
        assert decision["data"]["jti"] == c["jti"]
        assert (c["upstream_status"], c["method"], c["path"]) == (200, "POST", "/graphql")
    assert {e["actor"] for e in events if e["type"] == "gateway.completed"} == {"agent:claude-code"}
    with stack.services.db.read() as conn:
        assert all(r.ok for r in verify_all(conn))
