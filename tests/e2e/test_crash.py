"""Kill -9 mid-load: every token a client received has its record, and the audit log verifies."""

from __future__ import annotations

import base64
import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from test_serve import ROOT, cli, free_port

pytestmark = pytest.mark.slow


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


def start(data: Path, port: int, log: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broker.cli.main",
            "--data-dir",
            str(data),
            "serve",
            "--port",
            str(port),
        ],
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    pytest.fail("broker did not become ready")


def test_tokens_received_before_a_crash_are_all_recorded(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    server = start(data, port, tmp_path / "serve.log")
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
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
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
    again = start(data, port, tmp_path / "serve.log")
    again.terminate()
    again.wait(timeout=10)
