"""``capbroker mcp`` driven by the MCP SDK's own stdio client, against the served broker
and the gateway in front of the Railway replica."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from broker.demo.railway import IDS
from broker.demo.railway.service import GRAPHQL_PATH
from broker.demo.world import RAILWAY_STAGING
from tests.agents.conftest import CAPBROKER, CAPBROKER_CMD, AgentWorld

T = TypeVar("T")
INCIDENT = {
    "path": GRAPHQL_PATH,
    "query": "mutation($v: String!) { volumeDelete(volumeId: $v) }",
    "variables": {"v": IDS.shared_volume},
}
READ = {
    "path": GRAPHQL_PATH,
    "query": "query($id: String!) { project(id: $id) { name } }",
    "variables": {"id": IDS.shop},
}
DELETE_VARIABLE = {
    "path": GRAPHQL_PATH,
    "query": "mutation($i: VariableDeleteInput!) { variableDelete(input: $i) }",
    "variables": {
        "i": {
            "projectId": IDS.shop,
            "environmentId": IDS.shop_staging,
            "serviceId": IDS.api,
            "name": "LOG_LEVEL",
        }
    },
}


def _mcp(
    world: AgentWorld,
    steps: Callable[[ClientSession], Awaitable[T]],
    server: dict[str, Any] | None = None,
) -> T:
    """Run ``steps`` against ``capbroker mcp`` started as an MCP client starts it (from its
    config entry, ``server``, when given) in the project."""
    command, args = (
        (server["command"], server["args"]) if server else (CAPBROKER[0], [*CAPBROKER[1:], "mcp"])
    )
    params = StdioServerParameters(command=command, args=args, env=world.env(), cwd=world.project)

    async def run() -> T:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            return await steps(client)

    return anyio.run(run)


async def _tool(client: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result
    data = result.structured_content
    assert isinstance(data, dict)
    return data


def _start_session(world: AgentWorld) -> None:
    out = world.cli(
        "session", "start", "--url", world.broker_url, "--gateway", world.gateway_url,
        "--template", "shop-staging-agent", "--env", RAILWAY_STAGING,
        "--credential-file", str(world.credential_file),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_it_lists_its_tools_before_a_session_and_says_how_to_start_one(world: AgentWorld) -> None:
    async def steps(client: ClientSession) -> tuple[list[str], dict[str, Any]]:
        tools = await client.list_tools()
        return sorted(t.name for t in tools.tools), await _tool(client, "check_call", **READ)

    names, answer = _mcp(world, steps)
    assert names == ["approval_status", "call", "capabilities", "check_call", "request_approval"]
    assert answer["ok"] is False
    assert answer["reason"] == "no_session"
    assert "capbroker session start" in answer["next"]


def test_capabilities_and_the_incident_call_reported_as_production(world: AgentWorld) -> None:
    _start_session(world)

    async def steps(client: ClientSession) -> tuple[dict[str, Any], ...]:
        caps = await _tool(client, "capabilities")
        incident = await _tool(client, "check_call", **INCIDENT)
        read = await _tool(client, "check_call", **READ)
        return caps, incident, read

    caps, incident, read = _mcp(world, steps)
    assert caps["environments"] == [RAILWAY_STAGING]
    assert "volume:delete" in caps["actions"]
    assert caps["budgets"] == {"calls": 100, "destructive_calls": 3}
    assert 0 < caps["expires_in"] <= 3600
    assert incident["ok"] is False
    assert incident["reason"] == "environment_not_granted"
    assert incident["actions"] == ["volume:delete"]
    assert incident["resources"] == [f"volume:{IDS.shared_volume}"]
    production = f"{IDS.shop}/production"
    assert production in incident["environments"]
    assert incident["outside_token"] == [production]
    assert incident["calls"] == [
        {
            "action": "volume:delete",
            "effect": "destructive",
            "resources": [f"volume:{IDS.shared_volume}"],
            "environments": [production, RAILWAY_STAGING],
        }
    ]
    assert "ask a human" in incident["next"]
    assert read["ok"] is True
    assert read["actions"] == ["project:read"]
    # checking forwarded nothing (the gateway's own look-ups, `projects`, are not the calls)
    assert "volumeDelete" not in world.rw.executed()
    assert "project" not in world.rw.executed()
    assert IDS.shared_volume in world.rw.replica.state.tables.volumes


def test_call_request_approval_and_status(world: AgentWorld) -> None:
    _start_session(world)
    approvals = world.rw.services.approvals
    admin = world.rw.services.principals.create("admin", "ops-mcp", actor="test")

    async def steps(client: ClientSession) -> tuple[dict[str, Any], ...]:
        read = await _tool(client, "call", **READ)
        refused = await _tool(client, "call", **INCIDENT)
        held = await _tool(client, "request_approval", **DELETE_VARIABLE)
        pending = await _tool(client, "approval_status", approval_id=held["approval_id"])
        forwarded_while_held = world.rw.executed().count("variableDelete")
        approvals.vote(
            held["approval_id"],
            approver="admin:ops-mcp",
            approver_id=admin.principal.id,
            decision="approve",
        )
        granted = await _tool(client, "approval_status", approval_id=held["approval_id"])
        done = await _tool(client, "call", approval_id=held["approval_id"], **DELETE_VARIABLE)
        return read, refused, held, pending, granted, done, forwarded_while_held

    read, refused, held, pending, granted, done, forwarded_while_held = _mcp(world, steps)
    assert read["ok"] is True
    assert json.loads(read["body"])["data"]["project"]["name"] == "shop"
    assert refused["ok"] is False
    assert refused["reason"] == "environment_not_granted"
    assert held["held"] is True
    assert held["approval_id"]
    assert pending["ok"] is False
    assert pending["status"] == "pending"
    assert forwarded_while_held == 0
    assert "do not make the call" in pending["next"]
    assert granted["ok"] is True, granted
    assert granted["status"] == "granted"
    assert done["ok"] is True, done
    assert world.rw.executed().count("variableDelete") == 1
    assert "volumeDelete" not in world.rw.executed()


def test_an_approval_is_visible_only_to_its_own_session(world: AgentWorld) -> None:
    _start_session(world)
    mine = json.loads((world.project / ".capbroker/session.json").read_text())
    token = mine["variables"]["RAILWAY_TOKEN"]

    async def steps(client: ClientSession) -> dict[str, Any]:
        return await _tool(client, "request_approval", **DELETE_VARIABLE)

    approval_id = _mcp(world, steps)["approval_id"]
    url = f"{world.broker_url}/v1/approvals/{approval_id}"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    other = world.rw.token()  # another session of the same agent
    assert httpx.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 404
    assert httpx.get(url).status_code == 401
    forged = httpx.get(url, headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert forged.status_code == 401


def test_the_mcp_entry_agent_setup_writes_starts_the_server(world: AgentWorld) -> None:
    out = world.cli(
        "agent-setup", "claude-code", "--template", "shop-staging-agent", "--env", RAILWAY_STAGING,
        "--gateway", world.gateway_url, "--capbroker", CAPBROKER_CMD,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    entry = json.loads((world.project / ".mcp.json").read_text())["mcpServers"]["capbroker"]
    _start_session(world)

    async def steps(client: ClientSession) -> dict[str, Any]:
        return await _tool(client, "check_call", **INCIDENT)

    answer = _mcp(world, steps, entry)
    assert f"{IDS.shop}/production" in answer["outside_token"]


def test_after_the_session_ends_the_tools_say_there_is_none(world: AgentWorld) -> None:
    _start_session(world)
    end = world.cli("session", "end", "--credential-file", str(world.credential_file))
    assert end.returncode == 0, end.stderr

    async def steps(client: ClientSession) -> dict[str, Any]:
        return await _tool(client, "capabilities")

    assert _mcp(world, steps)["reason"] == "no_session"
