"""The MCP replies as pure functions of the gateway's answers."""

from __future__ import annotations

from broker.mcp.answers import approval_state, checked

STAGING, PRODUCTION = "p1/staging", "p1/production"


def test_a_call_touching_production_says_so_and_says_ask_a_human() -> None:
    answer = checked(
        {
            "decision": "deny",
            "reason": "environment_not_granted",
            "detail": f"volume:delete touches {PRODUCTION}; the token is for {STAGING}",
            "actions": ["volume:delete"],
            "resources": ["volume:v1"],
            "environments": [PRODUCTION, STAGING],
        },
        [STAGING],
    )
    assert answer["ok"] is False
    assert answer["outside_token"] == [PRODUCTION]
    assert answer["next"].startswith(f"volume:delete touches {PRODUCTION}")
    assert "ask a human" in answer["next"]


def test_allowed_and_approval_answers() -> None:
    allowed = checked({"decision": "allow", "environments": [STAGING]}, [STAGING])
    assert allowed["ok"] is True
    assert "call" in allowed["next"]
    held = checked({"decision": "deny", "reason": "approval_required"}, [STAGING])
    assert "request_approval" in held["next"]
    assert approval_state({"id": "a", "status": "denied"})["next"].startswith("a human said no")
    assert approval_state({"id": "a", "status": "granted"})["ok"] is True
