"""Helpers for the demo provider tests (a unique module name: tests/ has several conftests)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from broker.clock import FrozenClock
from broker.demo.provider import ProviderState, RequestLog

NOW = 1_900_000_000.0  # 2030-03-17T17:46:40Z


@dataclass
class Provider:
    url: str
    state: ProviderState
    log: RequestLog
    clock: FrozenClock
    master_key: str = field(repr=False)
    admin_token: str = field(repr=False)
    http: httpx.Client = field(repr=False)

    def gql(self, query: str, variables: dict[str, Any] | None = None, **extra: Any) -> Any:
        """POST one operation with the master key; asserts HTTP 200; returns the JSON body."""
        body: dict[str, Any] = {"query": query, **extra}
        if variables is not None:
            body["variables"] = variables
        response = self.http.post("/graphql", json=body, headers=self.auth())
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """Like ``gql`` but also asserts there were no GraphQL errors; returns ``data``."""
        body = self.gql(query, variables)
        assert "errors" not in body, body
        return body["data"]

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def requests(self) -> list[dict[str, Any]]:
        response = self.http.get("/_demo/requests", headers=self.admin())
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries


def make_keys() -> tuple[str, str]:
    return f"rw-master-{secrets.token_hex(16)}", f"demo-admin-{secrets.token_hex(16)}"
