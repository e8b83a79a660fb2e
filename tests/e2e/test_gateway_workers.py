"""`gateway serve --workers N`: N processes on one port, each with its own audit chain."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.processes import cli, demo_stack

pytestmark = pytest.mark.slow
QUERY = {"query": "{ projects { id } }"}


def _gateway_chains(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT writer FROM audit_chains") if "gateway@" in r[0]}
    finally:
        conn.close()


def test_two_workers_serve_one_port_and_every_decision_is_in_a_verified_chain(
    tmp_path: Path,
) -> None:
    with demo_stack(tmp_path) as stack:
        url, _ = stack.start_gateway("--workers", "2")
        auth = stack.token_headers()

        def call(_: int) -> int:
            # A connection per call, so the kernel hands calls to either worker.
            with httpx.Client(timeout=10) as client:
                return client.post(url, json=QUERY, headers=auth).status_code

        statuses: list[int] = []
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):  # bounded: at most 400 calls
                statuses += pool.map(call, range(40))
                if len(_gateway_chains(stack.data / "capbroker.db")) >= 2:
                    break
        assert set(statuses) == {200}
        # Both worker processes decided calls, each in a chain of its own.
        assert len(_gateway_chains(stack.data / "capbroker.db")) == 2
    # Stopped (SIGTERM): every worker wrote its completions before it went.
    conn = sqlite3.connect(stack.data / "capbroker.db")
    try:
        decisions = conn.execute(
            "SELECT count(*) FROM audit_events WHERE type = 'gateway.decision'"
        ).fetchone()[0]
        completed = conn.execute(
            "SELECT data FROM audit_events WHERE type = 'gateway.completed'"
        ).fetchall()
    finally:
        conn.close()

    assert decisions == len(statuses)
    assert sum(len(json.loads(d)["calls"]) for (d,) in completed) == len(statuses)
    verify = cli(stack.data, "audit", "verify")
    assert verify.returncode == 0, verify.stdout


def test_workers_out_of_range_are_refused_before_anything_starts(tmp_path: Path) -> None:
    providers = tmp_path / "providers.yaml"
    providers.write_text("providers: []\n")
    refused = cli(
        tmp_path / "data", "gateway", "serve", "--providers", str(providers), "--workers", "0"
    )
    assert refused.returncode == 2
    assert "--workers" in refused.stderr
