"""Approvals (pure): the digest binds the exact call; a retry passes only when all holds."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.domain.approvals import (
    APPROVAL_EXPIRED,
    APPROVAL_FOREIGN,
    APPROVAL_MISMATCH,
    APPROVAL_PENDING,
    APPROVAL_REJECTED,
    APPROVAL_UNKNOWN,
    APPROVAL_USED,
    ApprovalState,
    HeldCall,
    headers_digest,
    judge_retry,
    tally,
)
from broker.errors import Reason

CALL = HeldCall(
    "railway",
    "POST",
    "/graphql",
    "",
    "ab" * 32,
    ("volume:delete",),
    ("volume:vol-cache",),
    ("staging",),
)
GRANTED = ApprovalState("granted", CALL.digest(), "sid", "agent", expires_at=100.0)


def judge(state: ApprovalState | None, **kw: object) -> tuple[bool, str]:
    args: dict[str, object] = {
        "digest": CALL.digest(),
        "session_id": "sid",
        "agent_id": "agent",
        "now": 50.0,
    }
    args.update(kw)
    verdict = judge_retry(state, **args)  # type: ignore[arg-type]
    return verdict.allowed, verdict.refusal


def test_a_granted_unused_unexpired_matching_retry_passes() -> None:
    assert judge(GRANTED) == (True, "")


@pytest.mark.parametrize(
    ("state", "kw", "refusal"),
    [
        (None, {}, APPROVAL_UNKNOWN),
        (GRANTED, {"session_id": "other"}, APPROVAL_FOREIGN),
        (GRANTED, {"agent_id": "other"}, APPROVAL_FOREIGN),
        (dataclasses.replace(GRANTED, status="denied"), {}, APPROVAL_REJECTED),
        (dataclasses.replace(GRANTED, status="used"), {}, APPROVAL_USED),
        (GRANTED, {"now": 100.0}, APPROVAL_EXPIRED),
        (GRANTED, {"digest": "0" * 64}, APPROVAL_MISMATCH),
        (dataclasses.replace(GRANTED, status="pending"), {}, APPROVAL_PENDING),
    ],
)
def test_every_other_retry_is_refused(
    state: ApprovalState | None, kw: dict[str, object], refusal: str
) -> None:
    assert judge(state, **kw) == (False, refusal)


def test_pending_reads_as_still_required_everything_else_as_denied() -> None:
    pending = judge_retry(
        dataclasses.replace(GRANTED, status="pending"),
        digest=CALL.digest(),
        session_id="sid",
        agent_id="agent",
        now=1.0,
    )
    assert pending.reason is Reason.APPROVAL_REQUIRED
    used = judge_retry(
        dataclasses.replace(GRANTED, status="used"),
        digest=CALL.digest(),
        session_id="sid",
        agent_id="agent",
        now=1.0,
    )
    assert used.reason is Reason.APPROVAL_DENIED


@given(
    st.sampled_from(["provider", "method", "path", "query", "body_sha256", "headers_sha256"]),
    st.text(min_size=1, max_size=8),
)
def test_any_change_to_the_call_changes_the_digest(field: str, suffix: str) -> None:
    changed = dataclasses.replace(CALL, **{field: getattr(CALL, field) + suffix})
    assert changed.digest() != CALL.digest()


def test_order_of_actions_resources_environments_does_not_matter() -> None:
    a = HeldCall("p", "POST", "/x", "", "b", ("a:b", "c:d"), ("r1", "r2"), ("s", "t"))
    b = HeldCall("p", "POST", "/x", "", "b", ("c:d", "a:b"), ("r2", "r1"), ("t", "s"))
    assert a.digest() == b.digest()


def test_the_forwarded_headers_are_bound_as_http_reads_them() -> None:
    sent = [("Accept", "application/json"), ("X-Trace", "1"), ("X-Trace", "2")]
    assert headers_digest(sent) == headers_digest([(k.lower(), v) for k, v in sent])
    for other in (
        [("Accept", "text/plain"), ("X-Trace", "1"), ("X-Trace", "2")],  # a value
        [("Accept", "application/json"), ("X-Trace", "2"), ("X-Trace", "1")],  # an order
        [("Accept", "application/json"), ("X-Trace", "1")],  # one left out
        [*sent, ("X-Extra", "")],  # one added, even empty
    ):
        assert headers_digest(other) != headers_digest(sent)
    bound = dataclasses.replace(CALL, headers_sha256=headers_digest(sent))
    assert bound.digest() != CALL.digest()


def test_tally() -> None:
    assert tally([], 1) == "pending"
    assert tally(["approve"], 1) == "granted"
    assert tally(["approve"], 2) == "pending"
    assert tally(["approve", "approve"], 2) == "granted"
    assert tally(["approve", "deny"], 1) == "denied"
