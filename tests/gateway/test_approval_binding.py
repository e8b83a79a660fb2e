"""An approval binds everything the provider would receive, tried as an attacker would: one
call approved, then its approval id replayed with a changed query string, body bytes,
forwarded header or session. The upstream's own record shows none of them arrived; the
approved call itself goes through exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.manifests import parse_manifest
from tests.support import echo_upstream
from tests.support.stack import ECHO, ECHO_STAGING, Stack, build_stack

from .gateway_support import RawResponse, raw_request

BODY = json.dumps({"name": "n1", "environment": "staging"}).encode()


def echo_stack(tmp_path: Path, **spec: object) -> Iterator[Stack]:
    """The echo provider, its template asking a human for every write (and ``spec``)."""
    for built in build_stack(tmp_path, f"sqlite:///{tmp_path}/capbroker.db", with_echo=True):
        approval = {"approval": {"actions": ["echo:write"]}}
        doc = {**ECHO_STAGING, "spec": {**ECHO_STAGING["spec"], **approval, **spec}}
        built.services.templates.apply([parse_manifest(doc, "t#2")], actor="test", dry_run=False)
        yield built


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    yield from echo_stack(tmp_path)


def post(
    stack: Stack,
    token: str,
    *,
    approval: str | None = None,
    query: str = "",
    body: bytes = BODY,
    accept: str = "application/json",
) -> RawResponse:
    headers = [
        ("Authorization", f"Bearer {token}"),
        ("Content-Type", "application/json"),
        ("Accept", accept),
        ("Content-Length", str(len(body))),
    ]
    if approval is not None:
        headers.append(("X-Capbroker-Approval", approval))
    return raw_request(stack.url, "POST", f"/{ECHO}/echo{query}", headers, body)


def refusal(r: RawResponse) -> tuple[int, str, str]:
    problem = r.json()
    return r.status, problem["code"], problem.get("refusal", "")


def approve(stack: Stack, approval: str) -> None:
    created = stack.services.principals.create("admin", "ops", actor="test")
    stack.services.approvals.vote(
        approval, approver="admin:ops", approver_id=created.principal.id, decision="approve"
    )


def test_a_replayed_approval_lets_through_only_the_call_approved(stack: Stack) -> None:
    token = stack.echo_token()
    held = post(stack, token)
    assert refusal(held)[:2] == (403, "approval_required")
    approval = held.json()["approval_id"]
    approve(stack, approval)
    echo_upstream.RECEIVED.clear()
    mismatch = (403, "approval_denied", "approval_mismatch")
    # The same call with other body bytes (the same fields, another order).
    reordered = json.dumps({"environment": "staging", "name": "n1"}).encode()
    assert refusal(post(stack, token, approval=approval, body=reordered)) == mismatch
    # The same call with another value in a header the provider would receive.
    assert refusal(post(stack, token, approval=approval, accept="text/plain")) == mismatch
    # The same call with a query string (refused outright where the map declares none).
    answer = refusal(post(stack, token, approval=approval, query="?dry_run=false"))
    assert answer in (mismatch, (400, "invalid_request", answer[2])), answer
    # The same call from another session of the same agent.
    other = stack.echo_token()
    assert refusal(post(stack, other, approval=approval)) == (
        403,
        "approval_denied",
        "approval_foreign",
    )
    assert list(echo_upstream.RECEIVED) == []
    # The call approved, exactly: through once, as it was held.
    r = post(stack, token, approval=approval)
    assert r.status == 200, r.body
    (seen,) = echo_upstream.RECEIVED
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/echo", "")
    assert ["accept", "application/json"] in seen["headers"]
    assert seen["body_length"] == len(BODY)
    assert refusal(post(stack, token, approval=approval))[2] == "approval_used"
    assert len(echo_upstream.RECEIVED) == 1


def test_a_spent_budget_asks_no_human(tmp_path: Path) -> None:
    """A held call is for a token that could make it: spent, it is refused, nothing held."""
    for stack in echo_stack(tmp_path, budgets={"calls": 1}):
        token = stack.echo_token()
        assert (
            raw_request(
                stack.url, "GET", f"/{ECHO}/echo", [("Authorization", f"Bearer {token}")]
            ).status
            == 200
        )
        assert refusal(post(stack, token))[:2] == (403, "budget_exhausted")
        assert stack.services.approvals.list(status="pending") == []
