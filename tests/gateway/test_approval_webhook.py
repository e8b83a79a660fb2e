"""New pending approvals are announced to a webhook: signed, retried, never blocking."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from broker.clock import system_clock
from broker.demo.provider.server import ServerThread
from broker.gateway.notify import ApprovalWebhook
from tests.support.stack import Stack

KEY = b"an-hmac-key-for-the-test-receiver"
DELETE = (
    'mutation { variableDelete(environmentId: "env-staging", serviceId: "svc-api", name: "X") }'
)


class Receiver:
    """Answers 500 to the first ``failures`` deliveries, then 204; keeps what it got."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.got: list[tuple[dict[str, str], bytes, float]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.got.append((headers, body, time.monotonic()))
        status = 500 if len(self.got) <= self.failures else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_a_held_call_is_announced_signed_and_retried(stack: Stack) -> None:
    receiver = Receiver(failures=2)
    with ServerThread(receiver) as server:
        stack.gateway.pipeline.recorder.approvals.webhook = ApprovalWebhook(
            server.url + "/hook", KEY, clock=system_clock, backoff=(0.2, 0.2, 0.2)
        )
        answered_at = 0.0
        r = stack.call(stack.token(), DELETE)
        answered_at = time.monotonic()
        assert r.json()["code"] == "approval_required"
        deadline = time.monotonic() + 5
        while len(receiver.got) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(receiver.got) == 3
    # the agent had its answer before the first retry was even sent
    assert answered_at < receiver.got[1][2]
    headers, body, _ = receiver.got[-1]
    assert headers["x-capbroker-delivery-attempt"] == "3"
    expected = hmac.new(
        KEY, headers["x-capbroker-timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["x-capbroker-signature"] == f"sha256={expected}"
    event = json.loads(body)
    assert event["type"] == "approval.requested"
    assert event["approval_id"] == r.json()["approval_id"]
    assert event["actions"] == ["variable:delete"]
    assert event["environments"] == ["staging"]
    assert event["agent"] == "claude-code"
    assert stack.master_key not in body.decode()
