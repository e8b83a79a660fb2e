"""Live tokens follow their template, over real sockets: a newer version that narrows applies
to tokens already issued, within the revocation interval; a wider one never does; a
template gone from the store stops its tokens. Checked at the provider too."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from broker.manifests import parse_manifest
from broker.store.database import Database
from tests.support.stack import STAGING, Stack

from .test_gateway import PROJECTS, problem

CACHE_DELETE = 'mutation { volumeDelete(volumeId: "vol-cache") }'
VARIABLE_DELETE = (
    'mutation { variableDelete(environmentId: "env-staging", serviceId: "svc-api",'
    ' name: "DATABASE_URL") }'
)


def apply(stack: Stack, **spec: Any) -> None:
    doc = {**STAGING, "spec": {**STAGING["spec"], **spec}}
    stack.services.templates.apply([parse_manifest(doc, "t#2")], actor="test", dry_run=False)


def dry_run_reason(stack: Stack, token: str, query: str, reason: str | None) -> None:
    """Wait (dry runs: nothing forwarded, nothing counted) until the gateway's feed has the
    new version and ``query`` would get ``reason``; the real call is made after."""
    deadline = time.monotonic() + 10
    while True:
        r = stack.call(token, query, headers={"X-Capbroker-Dry-Run": "1"})
        got = r.json().get("reason") if r.status_code == 200 else r.json()["code"]
        if got == reason:
            return
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)


def feed_knows(stack: Stack, *, version: int) -> None:
    """Wait until the gateway's feed has read ``version`` of the template."""
    templates = stack.gateway.feed.revocations.templates
    deadline = time.monotonic() + 10
    while (current := templates.get("demo-staging")) is None or current.version < version:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_narrower_version_applies_to_a_live_token(stack: Stack) -> None:
    token = stack.token()
    assert stack.call(token, PROJECTS).status_code == 200
    actions = [a for a in STAGING["spec"]["actions"] if a != "volume:*"] + ["volume:read"]
    apply(stack, actions=actions)
    dry_run_reason(stack, token, CACHE_DELETE, "verb_not_granted")
    problem(stack.call(token, CACHE_DELETE), 403, "verb_not_granted")
    assert stack.call(token, PROJECTS).status_code == 200  # what is left still works
    assert "volumeDelete" not in stack.executed_fields()


def test_a_dropped_environment_stops_its_live_tokens(stack: Stack) -> None:
    token = stack.token()
    apply(stack, environments=["production"])
    dry_run_reason(stack, token, PROJECTS, "environment_not_granted")
    problem(stack.call(token, PROJECTS), 403, "environment_not_granted")
    assert stack.executed_fields() == []


def test_an_added_approval_holds_a_live_tokens_call(stack: Stack) -> None:
    token = stack.token()
    apply(stack, approval={"actions": ["variable:delete", "volume:delete"], "approvers": 1})
    dry_run_reason(stack, token, CACHE_DELETE, "approval_required")
    r = stack.call(token, CACHE_DELETE)
    assert (r.status_code, r.json()["code"]) == (403, "approval_required"), r.text
    assert "volumeDelete" not in stack.executed_fields()


def test_a_tighter_budget_applies_to_what_was_already_spent(stack: Stack) -> None:
    token = stack.token()
    for _ in range(3):
        assert stack.call(token, PROJECTS).status_code == 200
    apply(stack, budgets={"calls": 3})
    feed_knows(stack, version=2)  # (a dry run spends no budget, so it cannot show this)
    problem(stack.call(token, PROJECTS), 403, "budget_exhausted")
    assert stack.executed_fields() == ["projects"] * 3


def test_widening_never_applies_to_a_live_token(stack: Stack) -> None:
    token = stack.token()
    apply(stack, approval={"actions": [], "approvers": 1})  # no approval any more
    fresh = stack.token()  # issued from the wider version
    feed_knows(stack, version=2)
    r = stack.call(token, VARIABLE_DELETE)
    assert (r.status_code, r.json()["code"]) == (403, "approval_required"), r.text
    assert stack.call(fresh, VARIABLE_DELETE).status_code == 200
    assert stack.executed_fields().count("variableDelete") == 1


def test_a_template_gone_from_the_store_stops_its_tokens(stack: Stack) -> None:
    token = stack.token()
    assert stack.call(token, PROJECTS).status_code == 200
    with Database(stack.gateway.store.db.engine).transaction() as tx:
        tx.conn.execute(text("DELETE FROM template_versions WHERE name = 'demo-staging'"))
    # Refused once the feed has read the store clearly after the token was issued (5 s).
    dry_run_reason(stack, token, PROJECTS, "token_revoked")
    problem(stack.call(token, PROJECTS), 403, "token_revoked")
    assert stack.executed_fields() == ["projects"]
