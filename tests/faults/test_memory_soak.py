"""A bounded soak: a real gateway process sees many distinct short-lived tokens, one call
each; once they have expired its memory is back at its baseline.

Two equal rounds of ``TOKENS`` fresh tokens (each minted and used at once): the baseline
is the gateway's heap (RssAnon) once the first round's tokens have expired and been swept,
so the store's own caches have warmed up to this load; after the second round's tokens
have expired the heap must be within ``BOUND_KIB`` of it. Before the caches evicted by
expiry, each distinct token kept about 5 KB for good: ``TOKENS`` of them would leave
about 5 MB, twice the bound.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from broker.gateway.app import SWEEP_INTERVAL
from tests.support.process_stack import ProcessStack, process_stack

pytestmark = pytest.mark.faults

TTL_S = 5
TOKENS = 1000
BOUND_KIB = 2500
SETTINGS = {"CAPBROKER_LEEWAY": "0", "CAPBROKER_LOG_LEVEL": "warning"}


def _round(stack: ProcessStack, client: httpx.Client) -> int:
    """``TOKENS`` fresh tokens, one call each; returns how many were answered 200."""
    ok = 0
    for _ in range(TOKENS):
        answer = client.get(
            f"{stack.gateway_url}/echo/echo",
            params={"q": "ok"},
            headers={"Authorization": f"Bearer {stack.token()}"},
        )
        ok += answer.status_code == 200
    return ok


def _after_expiry(stack: ProcessStack) -> int:
    time.sleep(TTL_S + 2 * SWEEP_INTERVAL + 1)
    return ProcessStack.rss_kib(stack.gateway)


def test_gateway_memory_returns_to_baseline_after_tokens_expire(tmp_path: Path) -> None:
    with (
        process_stack(tmp_path, ttl=f"{TTL_S}s", settings=SETTINGS) as stack,
        httpx.Client(timeout=10) as client,
    ):
        started = ProcessStack.rss_kib(stack.gateway)
        assert _round(stack, client) == TOKENS
        baseline = _after_expiry(stack)
        began = time.monotonic()
        assert _round(stack, client) == TOKENS
        took = time.monotonic() - began
        peak = ProcessStack.rss_kib(stack.gateway)
        after = _after_expiry(stack)
        total = ProcessStack.rss_kib(stack.gateway, "VmRSS")
    print(  # the figures for the note (pytest -s)
        f"soak: RssAnon at start {started} KiB; baseline after round 1 expired {baseline} KiB;"
        f" round 2 ({TOKENS} tokens) took {took:.1f}s, peak {peak} KiB;"
        f" after expiry {after} KiB ({after - baseline:+d}); VmRSS {total} KiB"
    )
    assert after - baseline <= BOUND_KIB, (started, baseline, peak, after)
