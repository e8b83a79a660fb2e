"""The kill switch against two real gateway processes: both refuse within a second."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support import cli, free_port, start_broker

from broker.demo.scene import FLOOR, TEMPLATE

pytestmark = pytest.mark.slow
QUERY = {"query": "{ projects { id } }"}


def wait_ready(url: str, proc: subprocess.Popen[str]) -> None:
    for _ in range(400):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "process exited early"
        time.sleep(0.05)
    raise RuntimeError(f"{url} never became ready")


def test_two_gateways_refuse_a_killed_agent_within_a_second(tmp_path: Path) -> None:
    import yaml

    data = tmp_path / "data"
    log = (tmp_path / "log").open("a")
    broker_port = free_port()
    env = {**os.environ, "CAPBROKER_PORT": str(broker_port), "MASTER": secrets.token_urlsafe(24)}
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(start_broker(data, broker_port, log))
        manifests = tmp_path / "m.yaml"
        manifests.write_text(yaml.safe_dump_all([FLOOR, TEMPLATE]))
        assert cli(data, "apply", "-f", str(manifests)).returncode == 0
        agent = cli(data, "agents", "create", "claude-kill").stdout.strip()
        put = subprocess.run(
            [
                sys.executable,
                "-m",
                "broker.cli.main",
                "--data-dir",
                str(data),
                "secrets",
                "put",
                "railway-demo",
            ],
            input=env["MASTER"],
            text=True,
            capture_output=True,
            check=False,
        )
        assert put.returncode == 0, put.stderr
        provider_port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "broker.demo.provider",
                    "--port",
                    str(provider_port),
                    "--key-env",
                    "MASTER",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        wait_ready(f"http://127.0.0.1:{provider_port}/healthz", procs[-1])
        providers = tmp_path / "providers.yaml"
        providers.write_text(
            yaml.safe_dump(
                {
                    "providers": [
                        {
                            "name": "railway-demo",
                            "route_map": "railway-demo",
                            "upstream": f"http://127.0.0.1:{provider_port}",
                        }
                    ]
                }
            )
        )
        gateways = []
        for _ in range(2):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "broker.cli.main",
                        "--data-dir",
                        str(data),
                        "gateway",
                        "serve",
                        "--providers",
                        str(providers),
                        "--port",
                        str(port),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
            wait_ready(f"http://127.0.0.1:{port}/readyz", procs[-1])
            gateways.append(f"http://127.0.0.1:{port}/railway-demo/graphql")
        token = httpx.post(
            f"http://127.0.0.1:{broker_port}/v1/tokens",
            headers={"Authorization": f"Bearer {agent}"},
            json={"template": "staging-agent", "environment": "staging"},
        ).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        for url in gateways:
            assert httpx.post(url, json=QUERY, headers=auth).status_code == 200

        engaged = cli(data, "kill", "engage", "--agent", "claude-kill", "--reason", "test")
        assert engaged.returncode == 0, engaged.stderr
        killed_at = time.monotonic()
        refused: dict[str, float] = {}
        while len(refused) < 2 and time.monotonic() - killed_at < 3:
            for url in gateways:
                if url not in refused:
                    r = httpx.post(url, json=QUERY, headers=auth)
                    if r.status_code == 403:
                        assert r.json()["code"] in ("token_revoked", "kill_switch_engaged")
                        refused[url] = time.monotonic() - killed_at
            time.sleep(0.02)
        assert len(refused) == 2, "a gateway still forwards a killed agent's calls"
        assert max(refused.values()) < 1.0, refused
        # A broker process other than the one that engaged it sees the switch within its
        # one-second catalogue refresh.
        code = ""
        while time.monotonic() - killed_at < 2.5:
            again = httpx.post(
                f"http://127.0.0.1:{broker_port}/v1/tokens",
                headers={"Authorization": f"Bearer {agent}"},
                json={"template": "staging-agent", "environment": "staging"},
            )
            code = again.json().get("code", "")
            if again.status_code == 403:
                break
            time.sleep(0.1)
        assert code == "kill_switch_engaged"
        assert "ENGAGED" in cli(data, "kill", "list").stdout
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
