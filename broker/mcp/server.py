"""The MCP server: five tools over the session recorded by ``capbroker session start``.

The record is read at every tool call, so the server starts and lists its tools before a
session exists, and follows a session that starts, ends or is replaced later. Each
tool's parameters are its input schema, so the request tools spell theirs out.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

from broker.agents import sessions
from broker.agents.sessions import SessionRecord
from broker.mcp import answers
from broker.mcp.answers import Answer
from broker.mcp.calls import BODY_PREVIEW, Request, approval, problem, send

INSTRUCTIONS = (
    "capbroker: your provider access is one capability token for one environment. "
    "Call capabilities first; call check_call before any write to learn what it touches "
    "(every environment, as the gateway resolves them); never guess a call's scope."
)
_REQUEST = (
    " Give the provider path (e.g. /graphql/v2) and either a GraphQL `query` with "
    "`variables`, or an HTTP `method` with a JSON `body` string."
)
DESCRIPTIONS = {
    "capabilities": "What your session's token allows: provider, environments, actions, "
    "resources, budgets, approvals needed, time left.",
    "check_call": "Ask the gateway what a call would do, without doing it: allowed or why "
    "not, each operation with its effect, resources and environments." + _REQUEST,
    "request_approval": "Hold an exact call for a human to approve (only for calls "
    "check_call says need approval)." + _REQUEST,
    "approval_status": "The state of a call you asked approval for (its approval_id).",
    "call": "Perform a call through the gateway with your token (with approval_id when a "
    "human approved it)." + _REQUEST,
}


def build_server(record_path: Path, *, explicit: bool = True) -> MCPServer[Any]:
    """``explicit``: ``record_path`` is the one record to read; otherwise it is the
    project's default, and the session is looked up among the project's records
    (``CAPBROKER_SESSION_ID`` if the server has it, else the newest)."""
    server: MCPServer[Any] = MCPServer("capbroker", instructions=INSTRUCTIONS)
    tools = Tools(record_path, explicit)
    for name, description in DESCRIPTIONS.items():
        server.add_tool(getattr(tools, name), name=name, description=description)
    return server


@dataclass(frozen=True)
class Tools:
    record_path: Path
    explicit: bool = True

    def _session(self) -> SessionRecord | None:
        if self.explicit:
            return sessions.load(self.record_path)
        return sessions.locate(self.record_path, os.environ)[1]

    def capabilities(self) -> Answer:
        record = self._session()
        return answers.capabilities(record, time.time()) if record else answers.NO_SESSION

    def check_call(
        self,
        path: str,
        method: str = "POST",
        query: str | None = None,
        variables: dict[str, Any] | None = None,
        body: str | None = None,
    ) -> Answer:
        record = self._session()
        if record is None:
            return answers.NO_SESSION
        return _check(record, Request(path, method, query, variables, body))

    def request_approval(
        self,
        path: str,
        method: str = "POST",
        query: str | None = None,
        variables: dict[str, Any] | None = None,
        body: str | None = None,
    ) -> Answer:
        record = self._session()
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

    def approval_status(self, approval_id: str) -> Answer:
        record = self._session()
        if record is None:
            return answers.NO_SESSION
        response = approval(record, approval_id)
        if response.status_code != 200:
            return answers.refused(response.status_code, problem(response))
        return answers.approval_state(response.json())

    def call(
        self,
        path: str,
        method: str = "POST",
        query: str | None = None,
        variables: dict[str, Any] | None = None,
        body: str | None = None,
        approval_id: str | None = None,
    ) -> Answer:
        record = self._session()
        if record is None:
            return answers.NO_SESSION
        response = send(
            record, Request(path, method, query, variables, body), approval_id=approval_id
        )
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            return answers.refused(response.status_code, problem(response))
        return {
            "ok": response.status_code < 400,
            "status": response.status_code,
            "body": response.text[:BODY_PREVIEW],
            "truncated": len(response.text) > BODY_PREVIEW,
            "next": "done" if response.status_code < 400 else "the provider refused it",
        }


def _check(record: SessionRecord, request: Request) -> Answer:
    response = send(record, request, dry_run=True)
    if response.status_code != 200:
        return answers.refused(response.status_code, problem(response))
    granted = answers.capabilities(record, time.time())["environments"]
    return answers.checked(response.json(), list(granted))
