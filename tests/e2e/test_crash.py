"""Kill -9 mid-load: every token a client received has its record, and the audit log verifies."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, cli, free_port, start_broker

pytestmark = pytest.mark.slow


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


def test_tokens_received_before_a_crash_are_all_recorded(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    server = start_broker(data, port, tmp_path / "serve.log")
    assert cli(data, "apply", "-f", str(ROOT / "examples" / "templates")).returncode == 0
    agent = cli(data, "agents", "create", "ci-crash").stdout.strip()
    assert re.fullmatch(r"capb_agt_\S+", agent)
    received: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(2000):  # bounded; the kill ends it much sooner
                if stop.is_set():
                    return
                try:
                    r = client.post(
                        "/v1/tokens",
                        json={"template": "staging-agent", "environment": "staging"},
                        headers={"Authorization": f"Bearer {agent}"},
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    received.append(r.json()["access_token"])

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 30
    while len(received) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for w in workers:
        w.join(timeout=10)
    assert len(received) >= 150

    db = sqlite3.connect(data / "capbroker.db")
    recorded = {row[0] for row in db.execute("SELECT jti FROM tokens")}
    issued_events = db.execute(
        "SELECT count(*) FROM audit_events WHERE type = 'token.issued'"
    ).fetchone()[0]
    db.close()
    missing = {jti_of(t) for t in received} - recorded
    assert not missing, f"{len(missing)} tokens reached the client without a record"
    assert issued_events == len(recorded)

    verify = cli(data, "audit", "verify")
    assert verify.returncode == 0, verify.stdout
    # and the broker starts again on the same data after the crash
    again = start_broker(data, port, tmp_path / "serve.log")
    again.stop()


def test_several_workers_share_the_store_with_a_chain_each(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    server = start_broker(data, port, tmp_path / "serve.log", "--workers", "2")
    try:
        assert cli(data, "apply", "-f", str(ROOT / "examples" / "templates")).returncode == 0
        agent = cli(data, "agents", "create", "ci-workers").stdout.strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            answers = [
                client.post(
                    "/v1/tokens",
                    json={"template": "staging-agent", "environment": "staging"},
                    headers={"Authorization": f"Bearer {agent}"},
                )
                for _ in range(40)
            ]
        assert {a.status_code for a in answers} == {201}
    finally:
        server.stop(timeout_s=20)
    verify = cli(data, "audit", "verify")
    assert verify.returncode == 0, verify.stdout
    db = sqlite3.connect(data / "capbroker.db")
    issued = db.execute("SELECT count(*) FROM audit_events WHERE type = 'token.issued'").fetchone()
    db.close()
    assert issued[0] == 40
