"""Tokens signed with the broker's real key whose claims are wrongly typed: each is an
audited 401 ``token_invalid``, nothing reaches the provider, and calls sharing its
group-commit batch go through as if it were not there."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.tokens._b64 import b64url_decode
from tests.support.stack import Stack
from tests.tokens.token_builders import forge

PROJECTS = "{ projects { id name } }"

# (what is wrong, a change to the capability entry or to the claims)
CAPABILITY_CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("budget calls as text", {"budgets": {"calls": "3"}}),
    ("budgets as a list", {"budgets": [25]}),
    ("budget calls negative", {"budgets": {"calls": -1}}),
    ("budget calls a bool", {"budgets": {"destructive_calls": True}}),
    ("approvers as text", {"approval": {"actions": ["volume:delete"], "approvers": "two"}}),
    ("approval actions as text", {"approval": {"actions": "volume:delete"}}),
    ("approval as a list", {"approval": ["volume:delete"]}),
    ("actions as text", {"actions": "deployment:*"}),
    ("actions of numbers", {"actions": [1, 2]}),
    ("actions of objects", {"actions": [{"a": "project:read"}]}),
    ("environment an object", {"environments": [{"name": "staging"}]}),
    ("environments as text", {"environments": "staging"}),
    ("no environment", {"environments": []}),
    ("provider a list", {"provider": ["railway-demo"]}),
    ("provider missing", {"provider": None}),
    ("resources a number", {"resources": 5}),
    ("dry_run as text", {"dry_run": "yes"}),
]
CLAIM_CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("a NUL in jti", {"jti": "abc\x00def"}),
    ("a lone surrogate in sid", {"sid": "s\ud800"}),
    ("deeply nested extra claim", {"x-deep": json.loads("[" * 40 + "]" * 40)}),
    ("no capability entry", {"authorization_details": [{"type": "other"}]}),
]


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return claims


def forged(stack: Stack, change: dict[str, Any], *, capability: bool) -> str:
    """A fresh token's claims changed, then signed with the broker's real signing key."""
    claims = _claims(stack.token())
    if capability:
        detail = claims["authorization_details"][0]
        for key, value in change.items():
            if value is None:
                detail.pop(key, None)
            else:
                detail[key] = value
    else:
        claims.update(change)
    signer = stack.services.keys.signer()
    # forge, not mint: ASCII-escaped JSON, so a lone surrogate can be written at all
    return forge({"alg": "EdDSA", "typ": "at+jwt", "kid": signer.kid}, claims, signer.sign)


CASES = [(w, c, True) for w, c in CAPABILITY_CHANGES] + [(w, c, False) for w, c in CLAIM_CHANGES]


@pytest.mark.parametrize(("what", "change", "capability"), CASES, ids=[c[0] for c in CASES])
def test_wrongly_typed_claim_is_an_audited_refusal(
    shared_stack: Stack, what: str, change: dict[str, Any], capability: bool
) -> None:
    stack = shared_stack
    bad = forged(stack, change, capability=capability)
    good = [stack.token() for _ in range(6)]
    before = len(stack.upstream_log())

    def call(token: str) -> httpx.Response:
        return stack.call(token, PROJECTS)

    # Sent together, so that they share group-commit batches with the bad one.
    with ThreadPoolExecutor(max_workers=7) as pool:
        answers = list(pool.map(call, [good[0], good[1], good[2], bad, *good[3:]]))
    refused = answers.pop(3)
    assert refused.status_code == 401, (what, refused.status_code, refused.text[:300])
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "token_invalid"
    assert [a.status_code for a in answers] == [200] * 6, [a.text[:200] for a in answers]
    # The provider saw the six good calls and nothing of the bad one.
    assert len(stack.upstream_log()) - before == 6
    with stack.services.db.read() as conn:
        events = query_events(conn, AuditQuery(type="gateway.decision", limit=50))
        assert all(r.ok for r in verify_all(conn))
    refusals = [
        e for e in events if e["reason"] == "token_invalid" and e["actor"] == "unauthenticated"
    ]
    assert refusals, "the refusal was not audited"
    assert "authorization_details" in refusals[0]["data"]["detail"] or not capability
