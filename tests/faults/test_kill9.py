"""kill -9 of the broker and of the gateway under load, on SQLite and on PostgreSQL.

Clients issue tokens at the broker and call the gateway with them while each process is
killed with SIGKILL and started again. Safety, checked afterwards in the store: every
token a client received has its row; the provider saw no more calls than the gateway
committed ``allow`` decisions for (a decision is durable before its call is forwarded),
and no more 200s were answered than that; every audit chain verifies. Availability:
after each restart the stack serves again within ``RESTART_BOUND_S``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.faults.procstack import ProcStack, jti_of

pytestmark = pytest.mark.faults

CLIENTS = 3
KILL_AFTER_S = 1.0  # of load before each kill
RESTART_BOUND_S = 30.0  # a process start on a loaded 2-core machine


@dataclass
class Load:
    stack: ProcStack
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[str] = field(default_factory=list)  # tokens a client got
    answered_200: int = 0
    failures: int = 0  # refused, reset, timed out: expected while a process is down
    codes: dict[str, int] = field(default_factory=dict)  # why, for the report

    def client(self) -> None:
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                try:
                    issued = self.stack.issue(http, timeout=5)
                    if issued.status_code != 201:
                        self._failed(f"issue {issued.status_code}")
                        continue
                    token = issued.json()["access_token"]
                    with self.lock:
                        self.received.append(token)
                    for _ in range(3):
                        answer = self.stack.call(token, client=http)
                        if answer.status_code == 200:
                            with self.lock:
                                self.answered_200 += 1
                        else:
                            self._failed(f"call {answer.status_code} {answer.text[:60]}")
                except httpx.HTTPError as exc:
                    self._failed(type(exc).__name__)
                    time.sleep(0.05)

    def _failed(self, why: str) -> None:
        with self.lock:
            self.failures += 1
            self.codes[why] = self.codes.get(why, 0) + 1

    def served(self) -> int:
        with self.lock:
            return self.answered_200


def _serves_again(stack: ProcStack, load: Load) -> float:
    started, before = time.monotonic(), load.served()
    while load.served() <= before + 3:
        assert time.monotonic() - started < RESTART_BOUND_S, "the stack did not serve again"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return ""
    url: str = request.getfixturevalue("pg_url")
    return url


def test_kill_9_under_load_loses_nothing(tmp_path: Path, store_url: str) -> None:
    stack = ProcStack(tmp_path, store_url)
    load = Load(stack)
    threads = [threading.Thread(target=load.client, daemon=True) for _ in range(CLIENTS)]
    recovered: dict[str, float] = {}
    try:
        stack.start()
        for t in threads:
            t.start()
        _serves_again(stack, load)
        for name in ("broker", "gateway"):
            time.sleep(KILL_AFTER_S)
            proc = getattr(stack, name)
            assert proc is not None
            proc.kill()
            getattr(stack, f"start_{name}")()
            recovered[name] = _serves_again(stack, load)
        time.sleep(KILL_AFTER_S)
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=15)
        upstream = stack.upstream_log() if stack.provider is not None else []
        stack.stop()
    agent_calls = sum(
        1 for e in upstream if any("projects" in op["root_fields"] for op in e["operations"])
    )
    allowed = [e for e in stack.events("gateway.decision") if e["outcome"] == "ok"]
    print(
        f"kill -9 ({store_url.split(':')[0] or 'sqlite'}): {len(load.received)} tokens,"
        f" {load.answered_200} calls answered 200, {agent_calls} seen upstream,"
        f" {len(allowed)} allow decisions, {load.failures} failures while down {load.codes};"
        f" served again after {recovered}"
    )
    assert load.received, "no token was issued"
    missing = {jti_of(t) for t in load.received} - stack.token_rows()
    assert not missing, f"tokens a client received have no row: {sorted(missing)[:5]}"
    assert agent_calls <= len(allowed), "the provider saw a call without a committed decision"
    assert load.answered_200 <= agent_calls
    assert stack.chains_intact() == []
