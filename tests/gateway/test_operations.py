"""Operations, not requests, over real sockets: what the classified calls and the token alone
decide is decided before any look-up goes upstream with the master key (the provider's
request log stays empty), and budgets count every classified call, not HTTP requests."""

from __future__ import annotations

from typing import Any

import httpx

from broker.manifests import parse_manifest
from tests.support.stack import PROVIDER, STAGING, Stack

from .test_gateway import PROJECTS, VOLUME_DELETE, problem

BACKUP_DELETE = 'mutation { volumeBackupDelete(backupId: "bkp-pg-2") }'
# Two calls whose environments need look-ups, the forbidden one last.
INCIDENT_THEN_FORBIDDEN = (
    'mutation { a: volumeDelete(volumeId: "vol-pg") b: volumeBackupDelete(backupId: "bkp-pg-2") }'
)


def batch(
    stack: Stack, token: str, entries: list[dict[str, Any]], **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{stack.url}/{PROVIDER}/graphql",
        json=entries,
        headers={"Authorization": f"Bearer {token}", **headers},
        timeout=10,
    )


def test_a_forbidden_verb_costs_no_upstream_request(shared_stack: Stack) -> None:
    token = shared_stack.token()
    problem(shared_stack.call(token, BACKUP_DELETE), 403, "forbidden_verb")
    # Forbidden wins over the environment the first call would have been refused for.
    problem(shared_stack.call(token, INCIDENT_THEN_FORBIDDEN), 403, "forbidden_verb")
    entries = [{"query": VOLUME_DELETE, "variables": {"v": "vol-pg"}}, {"query": BACKUP_DELETE}]
    problem(batch(shared_stack, token, entries), 403, "forbidden_verb")
    assert shared_stack.upstream_log() == []  # not even the gateway's own look-ups


def test_a_dry_run_of_a_forbidden_verb_sends_nothing_either(shared_stack: Stack) -> None:
    # An id no other test looks up (the gateway caches look-ups across this module's tests).
    unseen = BACKUP_DELETE.replace("bkp-pg-2", "bkp-dry-run")
    r = shared_stack.call(shared_stack.token(), unseen, headers={"X-Capbroker-Dry-Run": "1"})
    assert r.status_code == 200, r.text
    assert (r.json()["decision"], r.json()["reason"]) == ("deny", "forbidden_verb")
    assert shared_stack.upstream_log() == []


def test_a_verb_the_token_lacks_costs_no_upstream_request(shared_stack: Stack) -> None:
    token = shared_stack.token(actions=("project:read",))
    unseen = {"v": "vol-not-looked-up"}
    problem(shared_stack.call(token, VOLUME_DELETE, unseen), 403, "verb_not_granted")
    assert shared_stack.upstream_log() == []


def aliased(field: str, n: int) -> str:
    return "{ " + " ".join(f"f{i}: {field}" for i in range(n)) + " }"


def test_a_batch_spends_one_call_per_root_field(shared_stack: Stack) -> None:
    """The template's budget is 25 calls: five entries of five root fields spend it all in
    one HTTP request, and the next call, one that needs a look-up, is refused before it."""
    token = shared_stack.token()
    entries = [{"query": aliased("projects { id }", 5)} for _ in range(5)]
    assert batch(shared_stack, token, entries).status_code == 200
    assert len(shared_stack.upstream_log()) == 1
    problem(shared_stack.call(token, PROJECTS), 403, "budget_exhausted")
    problem(shared_stack.call(token, VOLUME_DELETE, {"v": "vol-cache"}), 403, "budget_exhausted")
    assert len(shared_stack.upstream_log()) == 1  # no look-up for a spent token


def test_a_batch_over_budget_is_refused_whole_and_counts_nothing(shared_stack: Stack) -> None:
    token = shared_stack.token()
    entries = [{"query": aliased("projects { id }", 5)} for _ in range(6)]  # 30 > 25
    problem(batch(shared_stack, token, entries), 403, "budget_exhausted")
    assert shared_stack.upstream_log() == []
    assert shared_stack.call(token, aliased("projects { id }", 25)).status_code == 200


def test_destructive_calls_are_counted_per_operation(stack: Stack) -> None:
    doc = {**STAGING, "spec": {**STAGING["spec"], "budgets": {"calls": 20, "destructive_calls": 5}}}
    stack.services.templates.apply([parse_manifest(doc, "t#2")], actor="test", dry_run=False)
    token = stack.token()
    five = aliased('volumeDelete(volumeId: "vol-cache")', 5).replace("{", "mutation {", 1)
    r = stack.call(token, five)
    assert r.status_code == 200, r.text
    # Five destructive calls spent: a sixth is refused, a read (call 6 of 20) still passes.
    problem(stack.call(token, VOLUME_DELETE, {"v": "vol-cache"}), 403, "budget_exhausted")
    assert stack.call(token, PROJECTS).status_code == 200
    assert stack.executed_fields().count("volumeDelete") == 5
