"""The kill switch against two real gateway processes: both refuse within a second."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import cli, demo_stack

pytestmark = pytest.mark.slow
QUERY = {"query": "{ projects { id } }"}


def test_two_gateways_refuse_a_killed_agent_within_a_second(tmp_path: Path) -> None:
    with demo_stack(tmp_path) as stack:
        data, broker_port, agent = stack.data, stack.broker_port, stack.agent
        gateways = [stack.start_gateway()[0] for _ in range(2)]
        auth = stack.token_headers()
        for url in gateways:
            assert httpx.post(url, json=QUERY, headers=auth).status_code == 200

        engaged = cli(data, "kill", "engage", "--agent", "claude-e2e", "--reason", "test")
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
