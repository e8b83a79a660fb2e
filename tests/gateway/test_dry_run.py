"""Dry runs: the gateway classifies, resolves, decides and records, and forwards nothing."""

from __future__ import annotations

from broker.audit.reader import AuditQuery, query_events
from broker.domain.grants import GrantRequest
from tests.support.stack import Stack

DELETE = 'mutation { volumeDelete(volumeId: "vol-pg") }'
READ = "{ projects { id } }"
VARIABLE_DELETE = (
    'mutation { variableDelete(environmentId: "env-staging", serviceId: "svc-api", name: "X") }'
)


def test_dry_run_header_answers_what_would_happen(stack: Stack) -> None:
    token = stack.token()
    header = {"X-Capbroker-Dry-Run": "1"}
    allowed = stack.call(token, READ, headers=header)
    assert allowed.status_code == 200
    assert allowed.json()["dry_run"] is True
    assert allowed.json()["decision"] == "allow"
    assert allowed.json()["actions"] == ["project:read"]
    denied = stack.call(token, DELETE, headers=header).json()
    assert denied["decision"] == "deny"
    assert denied["reason"] == "environment_not_granted"
    assert denied["environments"] == ["production", "staging"]
    held = stack.call(token, VARIABLE_DELETE, headers=header).json()
    assert held["reason"] == "approval_required"
    assert stack.services.approvals.list() == []  # nothing was held
    # nothing reached the provider but the gateway's own look-ups
    assert set(stack.executed_fields()) <= {"volume", "environment"}
    with stack.services.db.read() as conn:
        events = query_events(conn, AuditQuery(type="gateway.decision", limit=10))
    assert all(e["data"]["dry_run"] for e in events)


def test_a_dry_run_token_never_forwards(stack: Stack) -> None:
    issued = stack.services.issuance.issue(
        stack.agent, GrantRequest("demo-staging", "staging"), dry_run=True
    )
    assert issued.authorization_details[0]["dry_run"] is True
    for _ in range(30):  # a dry run spends no budget (the template allows 25 calls)
        r = stack.call(issued.access_token, READ)
        assert r.json()["dry_run"] is True
    assert stack.executed_fields() == []
