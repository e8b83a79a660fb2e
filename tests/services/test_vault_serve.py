"""`capbroker serve` on Vault: the start-up line names the backend and signer and whether
they were reached; /readyz answers 503 once Vault is gone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.support.openbao import LeakWatch, OpenBaoServer
from tests.support.processes import CAPBROKER
from tests.support.servers import ServerProcess, free_port, http_ready
from tests.support.vault_world import make_world

pytest_plugins = ["tests.support.openbao", "tests.support.vault_world"]

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
    base = f"http://127.0.0.1:{port}"
    proc = ServerProcess.start(
        [*CAPBROKER, "serve", "--port", str(port)],
        ready=http_ready(f"{base}/readyz", statuses=range(100, 600)),  # any answer: up
        log=tmp_path / "serve.log",
        cwd=ROOT,
        env=env,
        timeout_s=20,
    )
    try:
        ready = httpx.get(f"{base}/readyz", timeout=2)
        assert ready.status_code == 200, ready.text
        started = proc.output()
        assert f"secrets: vault kv-v2 at {own_openbao_server.addr}" in started
        assert f"signer: vault transit {world.transit_mount}/keys/capbroker" in started
        assert "[ok]" in started
        assert "cannot be reached" not in started
        assert world.token not in started
        own_openbao_server.kill()
        # Readiness is kept by background checks (every 2 s): it follows within a round.
        deadline = time.monotonic() + 6
        while (down := httpx.get(f"{base}/readyz", timeout=1)).status_code != 503:
            assert time.monotonic() < deadline, down.text
            time.sleep(0.1)
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
        proc.stop()
