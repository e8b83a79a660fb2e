"""The gateway, asked with the session's capability token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from broker.agents.sessions import SessionRecord

DRY_RUN = "X-Capbroker-Dry-Run"
APPROVAL = "X-Capbroker-Approval"
BODY_PREVIEW = 4000  # characters of a provider's answer an MCP reply carries


@dataclass(frozen=True)
class Request:
    """An HTTP request to the provider, or a GraphQL document with its variables."""

    path: str
    method: str = "POST"
    query: str | None = None
    variables: dict[str, Any] | None = None
    body: str | None = None

    def content(self) -> bytes | None:
        if self.query is not None:
            return json.dumps({"query": self.query, "variables": self.variables or {}}).encode()
        return self.body.encode() if self.body is not None else None


def send(
    record: SessionRecord,
    request: Request,
    *,
    dry_run: bool = False,
    approval_id: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {record.token}"}
    if request.content() is not None:
        headers["Content-Type"] = "application/json"
    if dry_run:
        headers[DRY_RUN] = "1"
    if approval_id:
        headers[APPROVAL] = approval_id
    return httpx.request(
        request.method.upper(),
        f"{record.api_url}/{request.path.lstrip('/')}",
        content=request.content(),
        headers=headers,
        timeout=30,
    )


def approval(record: SessionRecord, approval_id: str) -> httpx.Response:
    """The broker's answer on an approval of this session (asked with the session's token)."""
    return httpx.get(
        f"{record.broker_url.rstrip('/')}/v1/approvals/{quote(approval_id, safe='')}",
        headers={"Authorization": f"Bearer {record.token}"},
        timeout=10,
    )


def problem(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"detail": response.text[:200]}
    return data if isinstance(data, dict) else {"detail": str(data)[:200]}
