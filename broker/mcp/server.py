"""The MCP server: five tools over the session recorded by ``capbroker session start``.

The record is read at every tool call, so the server starts and lists its tools before a
session exists, and follows a session that starts, ends or is replaced later.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

from broker.agents import sessions
from broker.mcp import answers
from broker.mcp.answers import Answer
from broker.mcp.calls import BODY_PREVIEW, Request, approval, problem, send

INSTRUCTIONS = (
    "capbroker: your provider access is one capability token for one environment. "
    "Call capabilities first; call check_call before any write to learn what it touches "
    "(every environment, as the gateway resolves them); never guess a call's scope."
)
_REQUEST_DOC = (
    " Give the provider path (e.g. /graphql/v2) and either a GraphQL `query` with "
    "`variables`, or an HTTP `method` with a JSON `body` string."
)


def build_server(record_path: Path) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("capbroker", instructions=INSTRUCTIONS)

    def session() -> sessions.SessionRecord | None:
        return sessions.load(record_path)

    @server.tool(
        description="What your session's token allows: provider, environments, "
        "actions, resources, budgets, approvals needed, time left."
    )
    def capabilities() -> Answer:
        record = session()
        return answers.capabilities(record, time.time()) if record else answers.NO_SESSION

    @server.tool(
        description="Ask the gateway what a call would do, without doing it: "
        "allowed or why not, its actions, resources and environments." + _REQUEST_DOC
    )
    def check_call(
        path: str,
        method: str = "POST",
        query: str | None = None,
        variables: dict[str, Any] | None = None,
        body: str | None = None,
    ) -> Answer:
        record = session()
        if record is None:
            return answers.NO_SESSION
        return _check(record, Request(path, method, query, variables, body))

    @server.tool(
        description="Hold an exact call for a human to approve (only for calls "
        "check_call says need approval)." + _REQUEST_DOC
    )
    def request_approval(
        path: str,
        method: str = "POST",
        query: str | None = None,
        variables: dict[str, Any] | None = None,
        body: str | None = None,
    ) -> Answer:
        record = session()
        if record is None:
            return answers.NO_SESSION
        request = Request(path, method, query, variables, body)
        check = _check(record, request)
        if check["ok"] or check["reason"] != "approval_required":
            return {**check, "held": False}
        # Sent for real: the gateway holds it (nothing reaches the provider) and names it.
        held = problem(send(record, request))
        return {
            "ok": True,
            "held": held.get("code") == "approval_required",
            "approval_id": held.get("approval_id"),
            "approval_url": held.get("approval_url"),
            "next": "wait for a human; approval_status with the approval_id",
        }

    @server.tool(description="The state of a call you asked approval for (its approval_id).")
    def approval_status(approval_id: str) -> Answer:
        record = session()
        if record is None:
            return answers.NO_SESSION
        response = approval(record, approval_id)
        if response.status_code != 200:
            return answers.refused(response.status_code, problem(response))
        return answers.approval_state(response.json())

    @server.tool(
        description="Perform a call through the gateway with your token (with "
        "approval_id when a human approved it)." + _REQUEST_DOC
    )
    def call(
        path: str,
        method: str = "POST",
        query: str | None = None,
        variables: dict[str, Any] | None = None,
        body: str | None = None,
        approval_id: str | None = None,
    ) -> Answer:
        record = session()
        if record is None:
            return answers.NO_SESSION
        request = Request(path, method, query, variables, body)
        response = send(record, request, approval_id=approval_id)
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            return answers.refused(response.status_code, problem(response))
        return {
            "ok": response.status_code < 400,
            "status": response.status_code,
            "body": response.text[:BODY_PREVIEW],
            "truncated": len(response.text) > BODY_PREVIEW,
            "next": "done" if response.status_code < 400 else "the provider refused it",
        }

    return server


def _granted(record: sessions.SessionRecord) -> list[str]:
    return list(answers.capabilities(record, time.time())["environments"])


def _check(record: sessions.SessionRecord, request: Request) -> Answer:
    response = send(record, request, dry_run=True)
    if response.status_code != 200:
        return answers.refused(response.status_code, problem(response))
    return answers.checked(response.json(), _granted(record))
