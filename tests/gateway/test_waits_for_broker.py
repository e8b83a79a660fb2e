"""The gateway started before its broker waits for the JWKS with backoff (not ready, still
running) and becomes ready once the broker answers; the backoff schedule is capped."""

from __future__ import annotations

import asyncio
import itertools
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx

from broker.clock import system_clock
from broker.errors import Reason, Unavailable
from broker.gateway.startup import backoff_delays, wait_for_keys
from broker.gateway.tokens import GatewayKeys
from broker.tokens.keys import generate_signing_key, public_jwk
from tests.support.processes import DemoStack, capbroker, start_broker
from tests.support.servers import HOST, ServerProcess, free_port, http_ready


def test_backoff_grows_and_is_capped() -> None:
    assert list(itertools.islice(backoff_delays(), 8)) == [0.5, 1, 2, 4, 8, 15, 15, 15]


def test_wait_for_keys_retries_until_a_key_arrives() -> None:
    answers: list[object] = [Unavailable("down", reason=Reason.BROKER_UNAVAILABLE)] * 3
    jwk = public_jwk(generate_signing_key(now=0, activates_at=0))
    answers.append({"keys": [jwk]})
    calls: list[float] = []

    def fetch() -> dict[str, object]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    async def no_sleep(delay: float) -> None:
        calls.append(delay)

    keys = GatewayKeys(fetch, clock=system_clock)  # min_refresh 5 s: the wait is not held by it
    asyncio.run(wait_for_keys(keys, delays=backoff_delays(), sleep=no_sleep))
    assert keys.resolve(jwk["kid"]) is not None
    assert calls == [0.5, 1, 2]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_a_gateway_started_first_waits_for_the_broker(tmp_path: Path) -> None:
    stack = DemoStack(tmp_path)
    stack._seed()
    stack.providers.write_text(
        "providers:\n  - {name: railway-demo, route_map: railway-demo, upstream: http://127.0.0.1:9}\n"
    )
    port = free_port()
    argv = [*capbroker(stack.data), "gateway", "serve", "--providers", str(stack.providers)]
    gateway = ServerProcess.start(
        [*argv, "--port", str(port)],
        ready=http_ready(f"http://{HOST}:{port}/readyz", statuses=(503,)),
        log=stack.log,
        env=stack.env,
    )
    try:
        time.sleep(2)  # a few failed attempts
        assert gateway.running(), gateway.log_tail()
        assert _status(f"http://{HOST}:{port}/readyz") == 503
        body = httpx.get(f"http://{HOST}:{port}/readyz").json()
        assert body["checks"]["jwks"] == "empty"
        with start_broker(stack.data, stack.broker_port, stack.log):
            deadline = time.monotonic() + 30
            while _status(f"http://{HOST}:{port}/readyz") != 200:
                assert time.monotonic() < deadline, gateway.log_tail()
                assert gateway.running(), gateway.log_tail()
                time.sleep(0.2)
            assert "JWKS is not available yet" in gateway.log_tail(200)
    finally:
        gateway.stop(timeout_s=20)
