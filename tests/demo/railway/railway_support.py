"""Helpers for the Railway replica tests (a unique module name: tests/ has several conftests)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from broker.clock import FrozenClock
from broker.demo.railway import IDS, ReplicaServer

NOW = 1_900_000_000.0  # 2030-03-17T17:46:40Z
Vars = dict[str, Any] | None
Headers = dict[str, str] | None


@dataclass
class Replica:
    server: ReplicaServer
    clock: FrozenClock
    master_key: str = field(repr=False)
    admin_token: str = field(repr=False)
    workspace_token: str = field(repr=False)
    project_token: str = field(repr=False)  # seeded: shop's staging
    http: httpx.Client = field(repr=False)
    ids = IDS

    def post(self, query: str, variables: Vars = None, headers: Headers = None) -> Any:
        """POST one operation with ``headers`` (None: the master key as a Bearer token)."""
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        sent = self.bearer(self.master_key) if headers is None else headers
        return self.http.post("/graphql/v2", json=body, headers=sent)

    def gql(self, query: str, variables: Vars = None, headers: Headers = None) -> Any:
        """Like ``post``; asserts HTTP 200 and returns the JSON body."""
        response = self.post(query, variables, headers)
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, query: str, variables: Vars = None, headers: Headers = None) -> Any:
        """Like ``gql``; also asserts there were no GraphQL errors and returns ``data``."""
        body = self.gql(query, variables, headers)
        assert "errors" not in body, body
        return body["data"]

    def error(self, query: str, variables: Vars = None, headers: Headers = None) -> Any:
        """Like ``gql``; asserts exactly one GraphQL error and returns it."""
        body = self.gql(query, variables, headers)
        [error] = body["errors"]
        return error

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def project(token: str) -> dict[str, str]:
        return {"Project-Access-Token": token}

    def requests(self) -> list[dict[str, Any]]:
        response = self.http.get("/_demo/requests", headers=self.bearer(self.admin_token))
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries


def make_tokens() -> dict[str, str]:
    return {
        name: f"{name}-{secrets.token_hex(16)}"
        for name in ("master_key", "admin_token", "workspace_token", "project_token")
    }
