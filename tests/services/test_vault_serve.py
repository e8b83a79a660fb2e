"""`capbroker serve` on Vault: the start-up line names the backend and signer and whether
they were reached; /readyz answers 503 once Vault is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from openbao import LeakWatch, OpenBaoServer, free_port
from vault_world import make_world

pytest_plugins = ["openbao", "vault_world"]

ROOT = Path(__file__).resolve().parents[2]


def test_serve_reports_vault_and_transit_and_readyz_follows_vault(
    own_openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    world = make_world(own_openbao_server, tmp_path, signer="transit")
    world.services.close()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CAPBROKER_", "VAULT_"))},
        **world.environ,
        "CAPBROKER_SECRET_BACKEND": "vault",
        "CAPBROKER_SIGNER": "transit",
        "CAPBROKER_TRANSIT_MOUNT": world.transit_mount,
        "CAPBROKER_DATA_DIR": str(world.data_dir),
    }
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker.cli.main", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "serve exited"
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.1)
        assert ready.status_code == 200, ready.text
        log.seek(0)
        started = log.read()
        assert f"secrets: vault kv-v2 at {own_openbao_server.addr}" in started
        assert f"signer: vault transit {world.transit_mount}/keys/capbroker" in started
        assert "[ok]" in started
        assert "cannot be reached" not in started
        assert world.token not in started
        own_openbao_server.kill()
        down = httpx.get(f"{base}/readyz", timeout=10)
        assert down.status_code == 503
        checks = down.json()["checks"]
        assert checks["secret_backend"] == "unavailable (secret_backend_unavailable)"
        assert checks["signer"] == "unavailable (secret_backend_unavailable)"
        issued = httpx.post(
            f"{base}/v1/tokens",
            json={"template": "staging-agent", "environment": "staging"},
            headers={"Authorization": f"Bearer {world.agent}"},
            timeout=10,
        )
        assert issued.status_code == 503
        assert issued.json()["code"] == "secret_backend_unavailable"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
