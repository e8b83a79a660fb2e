"""The real processes a fault test breaks: ``capbroker serve``, ``capbroker gateway
serve`` and the demo provider (its request log readable with an admin token), over one
store (the data dir's SQLite file, or a PostgreSQL database), plus what the tests read
back afterwards: token rows, gateway decisions, the audit chains."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import text

from broker.audit.reader import verify_all
from broker.demo.world import FLOOR, PROVIDER, TEMPLATE, Principal, Seed, build_world
from broker.manifests import parse_manifest
from broker.settings import Settings
from broker.store.engine import make_engine
from tests.support.processes import start_broker, start_gateway, start_provider
from tests.support.servers import HOST, ServerProcess, free_port
from tests.support.stack import demo_request_log

PROJECTS = "{ projects { id } }"


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return str(claims["jti"])


@dataclass
class ProcStack:
    tmp: Path
    database_url: str = ""  # "" for the data dir's SQLite file
    data: Path = field(init=False)
    agent: str = field(default="", repr=False)
    root: str = field(default="", repr=False)  # an admin credential at the broker
    admin: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    broker_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    provider_port: int = field(default_factory=free_port)
    broker: ServerProcess | None = None
    gateway: ServerProcess | None = None
    provider: ServerProcess | None = None

    def __post_init__(self) -> None:
        self.data = self.tmp / "data"
        self.log = self.tmp / "log"
        self.providers = self.tmp / "providers.yaml"
        self.env = {
            **os.environ,
            "CAPBROKER_PORT": str(self.broker_port),
            "MASTER": secrets.token_urlsafe(24),
            "ADMIN": self.admin,
        }
        if self.database_url:
            self.env["CAPBROKER_DATABASE_URL"] = self.database_url

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data, database_url=self.database_url)

    def seed(self) -> None:
        seed = Seed(
            manifests=[parse_manifest(FLOOR, "f#floor"), parse_manifest(TEMPLATE, "f#t")],
            provider_keys={PROVIDER: self.env["MASTER"]},
            principals=[Principal("agent", "claude-faults"), Principal("admin", "root")],
        )
        world = build_world(self.settings, seed, writer="faults-seed")
        self.agent, self.root = world.credential("claude-faults"), world.credential("root")
        world.close()
        route = {
            "name": PROVIDER,
            "route_map": PROVIDER,
            "upstream": f"http://{HOST}:{self.provider_port}",
        }
        self.providers.write_text(yaml.safe_dump({"providers": [route]}))

    def start(self) -> ProcStack:
        self.seed()
        self.provider = start_provider(
            self.provider_port,
            self.log,
            "--key-env",
            "MASTER",
            "--admin-token-env",
            "ADMIN",
            env=self.env,
        )
        self.start_broker()
        self.start_gateway()
        return self

    def start_broker(self) -> None:
        self.broker = start_broker(self.data, self.broker_port, self.log, env=self.env)

    def start_gateway(self) -> None:
        self.gateway = start_gateway(
            self.data, self.providers, self.gateway_port, self.log, env=self.env
        )

    def stop(self) -> None:
        for proc in (self.gateway, self.broker, self.provider):
            if proc is not None:
                proc.stop(timeout_s=20)

    # --- as clients see it ---------------------------------------------------------------

    def issue(self, client: httpx.Client | None = None, timeout: float = 10) -> httpx.Response:
        post = client.post if client is not None else httpx.post
        return post(
            f"http://{HOST}:{self.broker_port}/v1/tokens",
            headers={"Authorization": f"Bearer {self.agent}"},
            json={"template": "staging-agent", "environment": "staging"},
            timeout=timeout,
        )

    def token(self) -> str:
        answer = self.issue()
        assert answer.status_code == 201, answer.text
        return str(answer.json()["access_token"])

    def call(
        self, token: str, query: str = PROJECTS, client: httpx.Client | None = None
    ) -> httpx.Response:
        post = client.post if client is not None else httpx.post
        return post(
            f"http://{HOST}:{self.gateway_port}/{PROVIDER}/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def upstream_log(self) -> list[dict[str, Any]]:
        return demo_request_log(f"http://{HOST}:{self.provider_port}", self.admin)

    # --- what the store kept --------------------------------------------------------------

    @property
    def broker_url(self) -> str:
        return f"http://{HOST}:{self.broker_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}/{PROVIDER}/graphql"

    def row_counts(self, tables: tuple[str, ...]) -> dict[str, int]:
        engine = make_engine(self.engine_url())
        try:
            with engine.connect() as conn:
                return {
                    t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                    for t in tables
                }
        finally:
            engine.dispose()

    def engine_url(self) -> str:
        return self.settings.effective_database_url

    def token_rows(self) -> set[str]:
        engine = make_engine(self.engine_url())
        try:
            with engine.connect() as conn:
                return {r[0] for r in conn.execute(text("SELECT jti FROM tokens"))}
        finally:
            engine.dispose()

    def events(self, type_: str) -> list[dict[str, Any]]:
        engine = make_engine(self.engine_url())
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT outcome, reason, data FROM audit_events WHERE type = :t"),
                    {"t": type_},
                )
                return [{"outcome": o, "reason": r, "data": json.loads(d)} for o, r, d in rows]
        finally:
            engine.dispose()

    def chains_intact(self) -> list[str]:
        """The failures of every audit chain's verification (empty: all intact)."""
        engine = make_engine(self.engine_url())
        try:
            with engine.connect() as conn:
                return [str(r) for r in verify_all(conn) if not r.ok]
        finally:
            engine.dispose()
