"""Short, structured replies with a next step (pure: plain values in, a dict out)."""

from __future__ import annotations

from typing import Any

import jwt

from broker.agents.sessions import SessionRecord

Answer = dict[str, Any]

NO_SESSION: Answer = {
    "ok": False,
    "reason": "no_session",
    "next": "no capbroker session is active: a human (or your SessionStart hook) runs "
    "`capbroker session start --template T --env E`; do not look for another credential",
}


def capabilities(record: SessionRecord, now: float) -> Answer:
    """What the session's token allows, read from its own claims (the gateway verifies
    them; this only reports them)."""
    claims = jwt.decode(record.token, options={"verify_signature": False})
    detail = (claims.get("authorization_details") or [{}])[0]
    left = max(0, int(claims.get("exp", now) - now))
    answer: Answer = {
        "ok": left > 0,
        "provider": record.provider,
        "environments": detail.get("environments", []),
        "actions": detail.get("actions", []),
        "resources": detail.get("resources", []),
        "budgets": detail.get("budgets", {}),
        "budgets_note": "limits of the token; the broker does not report their use yet",
        "needs_approval": (detail.get("approval") or {}).get("actions", []),
        "expires_in": left,
        "api_url": record.api_url,
    }
    answer["next"] = (
        "check_call before any write; call performs it through the gateway"
        if left
        else "the token has expired: start a new session"
    )
    return answer


def checked(dry_run: dict[str, Any], granted: list[str]) -> Answer:
    """The gateway's dry-run answer with the blast radius and the next step."""
    decision = dry_run.get("decision")
    answer: Answer = {
        "ok": decision == "allow",
        "decision": decision,
        "reason": dry_run.get("reason"),
        "detail": dry_run.get("detail"),
        "actions": dry_run.get("actions", []),
        "resources": dry_run.get("resources", []),
        "environments": dry_run.get("environments", []),
        "calls": dry_run.get("calls", []),
        "outside_token": [e for e in dry_run.get("environments", []) if e not in granted],
    }
    answer["next"] = _next(answer)
    return answer


def _next(answer: Answer) -> str:
    if answer["ok"]:
        return "allowed: use call with the same request"
    if answer["reason"] in ("approval_required", "approval_pending"):
        return "a human must approve it: request_approval with the same request"
    if answer["outside_token"]:
        return f"{answer['detail']}: do not make this call; ask a human"
    if answer["reason"] is None:
        return "the gateway refused the request before deciding: fix it and check again"
    return f"refused ({answer['reason']}): {answer['detail']}; ask a human if it is needed"


def refused(status: int, problem: dict[str, Any]) -> Answer:
    """A gateway refusal (problem+json) as a reply."""
    return {
        "ok": False,
        "status": status,
        "reason": problem.get("code"),
        "detail": problem.get("detail"),
        "next": "check_call says why and what it touches",
    }


_APPROVAL_NEXT = {
    "pending": "a human has not decided yet: ask again later; do not make the call",
    "granted": "approved: call with the same request and this approval_id (it works once)",
    "denied": "a human said no: do not make this call",
    "used": "already used: ask again with request_approval if it must run again",
    "expired": "it expired undecided: request_approval again if it is still needed",
}


def approval_state(view: dict[str, Any]) -> Answer:
    status = str(view.get("status"))
    return {
        "ok": status == "granted",
        "approval_id": view.get("id"),
        "status": status,
        "approvals": view.get("approvals"),
        "approvers_required": view.get("approvers_required"),
        "next": _APPROVAL_NEXT.get(status, "ask a human"),
    }
