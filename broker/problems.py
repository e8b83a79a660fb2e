"""The one place a ``BrokerError`` becomes an RFC 9457 problem body, for every front end
(the broker API, the console, the gateway, the gateway's HTTP parser).

Framework-free: it returns a dict; each front end sends it as
``application/problem+json``. Which ``extra`` keys a caller may see is decided here,
once: an extra not named in ``CALLER_EXTRAS`` is never shown.
"""

from __future__ import annotations

from typing import Any

from broker.errors import BrokerError

PROBLEM_TYPE = "https://capbroker.dev/problems/"
# Every key a refusal may carry for its caller, by where it is set. A new key is shown
# only once it is named here.
CALLER_EXTRAS = frozenset(
    {
        "refusal",  # routemap, approvals, the gateway's framing and HTTP parser, the console
        "approval_id",  # a call held for approval (gateway)
        "approval_url",
        "error",  # the OAuth error code (RFC 6749 section 5.2) of the token endpoint
        "action",  # an action name that is not valid
        "agent",  # issuance: the agent and template that do not match
        "template",
        "environment",  # issuance: the environment asked for and those granted
        "granted",
        "malformed",  # issuance: requested actions that are not valid
        "forbidden",  # issuance: actions the policy floor forbids, and those not granted
        "not_granted",
        "requested",  # issuance: the TTL asked for and the most allowed
        "max",
        "problems",  # manifests and specs: every problem found, with its path
    }
)


def problem_body(
    error: BrokerError,
    *,
    instance: str | None = None,
    status: int | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """``type``, ``title``, ``status``, ``detail``, ``code``, ``instance`` (if given) and
    the caller-visible extras. ``status`` and ``title`` replace the error's own for a
    refusal that is not ours (a framework's routing or size cap)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + error.reason.value,
        "title": error.title if title is None else title,
        "status": error.status if status is None else status,
        "detail": error.detail,
        "code": error.reason.value,
    }
    if instance:
        body["instance"] = instance
    for key, value in error.extra.items():
        if key in CALLER_EXTRAS:
            body[key] = value
    return body
