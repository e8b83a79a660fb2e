"""``python -m broker.demo.railway`` as a real subprocess, as the demo and benchmarks run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from broker.demo.railway import IDS
from tests.support.servers import HOST, ServerProcess, free_port, http_ready

from .railway_support import make_tokens

pytestmark = pytest.mark.slow
MODULE = [sys.executable, "-m", "broker.demo.railway"]


def test_serves_from_a_key_in_the_environment_and_prints_its_url(tmp_path: Path) -> None:
    tokens = make_tokens()
    token_file = tmp_path / "admin-token"
    token_file.write_text(tokens["admin_token"] + "\n")
    port = free_port()
    argv = [*MODULE, "--port", str(port), "--key-env", "RAILWAY_REPLICA_KEY"]
    argv += ["--admin-token-file", str(token_file), "--delay-ms", "1"]
    base = f"http://{HOST}:{port}"
    proc = ServerProcess.start(
        argv,
        ready=http_ready(f"{base}/healthz"),
        log=tmp_path / "stdout",
        errors_log=tmp_path / "stderr",
        env={**os.environ, "RAILWAY_REPLICA_KEY": tokens["master_key"]},
    )
    try:
        auth = {"Authorization": f"Bearer {tokens['master_key']}"}
        query = "mutation($v: String!) { volumeDelete(volumeId: $v) }"
        body = {"query": query, "variables": {"v": IDS.shared_volume}}
        ok = httpx.post(f"{base}/graphql/v2", json=body, headers=auth, timeout=5)
        assert ok.json() == {"data": {"volumeDelete": True}}
        log = httpx.get(
            f"{base}/_demo/requests",
            headers={"Authorization": f"Bearer {tokens['admin_token']}"},
            timeout=5,
        )
        assert [e["auth"] for e in log.json()["requests"]] == ["ok"]
        assert tokens["master_key"] not in log.text
    finally:
        returncode = proc.stop(timeout_s=15)
    out, err = proc.output(), proc.errors()
    assert returncode == 0
    assert f"railway replica listening on {base}" in out
    assert tokens["master_key"] not in out + err
    assert tokens["admin_token"] not in out + err


def test_print_ids_and_a_missing_key() -> None:
    printed = subprocess.run([*MODULE, "--print-ids"], capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0
    assert json.loads(printed.stdout) == IDS.to_json()
    env = {k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE"}
    missing = subprocess.run(
        [*MODULE, "--key-env", "NOT_SET_ANYWHERE"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert missing.returncode == 2
    assert "NOT_SET_ANYWHERE (master key) is not set" in missing.stderr
