"""``capbroker session start|status|end`` against a served broker and the gateway in front
of the Railway replica."""

from __future__ import annotations

import json
import subprocess

import httpx

from broker.demo.railway import IDS
from broker.demo.railway.service import GRAPHQL_PATH
from broker.demo.world import RAILWAY_STAGING
from tests.agents.conftest import AgentWorld

READ = "query($id: String!) { project(id: $id) { name } }"


def _start(
    world: AgentWorld, *extra: str, env: str = RAILWAY_STAGING
) -> subprocess.CompletedProcess[str]:
    return world.cli(
        "session", "start", "--url", world.broker_url, "--gateway", world.gateway_url,
        "--template", "shop-staging-agent", "--env", env,
        "--credential-file", str(world.credential_file), *extra,
    )  # fmt: skip


def _call(variables: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{variables['RAILWAY_API_URL']}{GRAPHQL_PATH}",
        json={"query": READ, "variables": {"id": IDS.shop}},
        headers={"Authorization": f"Bearer {variables['RAILWAY_TOKEN']}"},
        timeout=15,
    )


def test_start_prints_the_variables_and_the_token_works_through_the_gateway(
    world: AgentWorld,
) -> None:
    out = _start(world, "--format", "json")
    assert out.returncode == 0, out.stderr
    variables = json.loads(out.stdout)
    assert set(variables) == {"RAILWAY_API_URL", "RAILWAY_TOKEN", "CAPBROKER_SESSION_ID"}
    assert variables["RAILWAY_API_URL"] == f"{world.gateway_url}/railway"
    assert world.rw.agent not in out.stdout + out.stderr
    assert _call(variables).status_code == 200
    record = world.project / ".capbroker" / "session.json"
    assert record.stat().st_mode & 0o777 == 0o600
    assert (record.parent / ".gitignore").read_text() == "*\n"
    assert world.rw.executed() == ["project"]


def test_dotenv_and_env_formats(world: AgentWorld) -> None:
    dotenv = _start(world, "--format", "dotenv")
    assert dotenv.returncode == 0, dotenv.stderr
    lines = dict(line.split("=", 1) for line in dotenv.stdout.splitlines())
    assert set(lines) == {"RAILWAY_API_URL", "RAILWAY_TOKEN", "CAPBROKER_SESSION_ID"}
    env = _start(world, "--format", "env")
    assert all(line.startswith("export ") for line in env.stdout.splitlines())


def test_status_then_end_revokes_the_token(world: AgentWorld) -> None:
    variables = json.loads(_start(world, "--format", "json").stdout)
    status = world.cli(
        "session", "status", "--json", "--credential-file", str(world.credential_file)
    )
    assert status.returncode == 0, status.stderr
    answer = json.loads(status.stdout)
    assert answer["active"] is True
    assert answer["environments"] == [RAILWAY_STAGING]
    assert "volume:delete" in answer["actions"]
    assert answer["budgets"] == {"calls": 100, "destructive_calls": 3}
    assert 0 < answer["expires_in"] <= 3600
    assert variables["RAILWAY_TOKEN"] not in status.stdout
    end = world.cli("session", "end", "--credential-file", str(world.credential_file))
    assert end.returncode == 0, end.stderr
    world.revocations_read()
    refused = _call(variables)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "token_revoked", refused.text
    assert world.rw.executed() == []  # nothing reached the provider
    after = world.cli("session", "status", "--credential-file", str(world.credential_file))
    assert after.returncode == 1


def test_a_refused_session_prints_nothing_on_stdout(world: AgentWorld) -> None:
    out = _start(world, "--format", "env", env=f"{IDS.shop}/production")
    assert out.returncode == 2
    assert out.stdout == ""
    assert "refused" in out.stderr
    assert not (world.project / ".capbroker" / "session.json").exists()


def test_the_credential_comes_from_a_private_file_or_the_environment(world: AgentWorld) -> None:
    world.credential_file.chmod(0o644)
    try:
        out = _start(world)
        assert out.returncode == 2
        assert "chmod 600" in out.stderr
    finally:
        world.credential_file.chmod(0o600)
    missing = world.cli(
        "session", "start", "--url", world.broker_url, "--gateway", world.gateway_url,
        "--template", "shop-staging-agent", "--env", RAILWAY_STAGING,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "CAPBROKER_AGENT_CREDENTIAL" in missing.stderr
    by_env = world.cli(
        "session", "start", "--url", world.broker_url, "--gateway", world.gateway_url,
        "--template", "shop-staging-agent", "--env", RAILWAY_STAGING,
        CAPBROKER_AGENT_CREDENTIAL=world.rw.agent,
    )  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    assert world.rw.agent not in by_env.stdout + by_env.stderr


def test_replace_ends_the_recorded_session_first(world: AgentWorld) -> None:
    first = json.loads(_start(world, "--format", "json").stdout)
    second = json.loads(_start(world, "--format", "json", "--replace").stdout)
    assert first["CAPBROKER_SESSION_ID"] != second["CAPBROKER_SESSION_ID"]
    assert _call(first).json()["code"] == "token_revoked"
    assert _call(second).status_code == 200
