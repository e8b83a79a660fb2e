"""The real ``capbroker`` command as processes: one-shot CLI calls, a served broker, the
gateway and the demo provider, each a ``ServerProcess`` (tests/support/servers.py)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from broker.demo.world import FLOOR, PROVIDER, TEMPLATE, Principal, Seed, build_world
from broker.manifests import parse_manifest
from broker.settings import Settings
from tests.support.servers import HOST, ServerProcess, free_port, http_ready

ROOT = Path(__file__).resolve().parents[2]
CAPBROKER = [sys.executable, "-m", "broker.cli.main"]
PROVIDER_MODULE = [sys.executable, "-m", "broker.demo.provider"]


def capbroker(data_dir: Path) -> list[str]:
    return [*CAPBROKER, "--data-dir", str(data_dir)]


def cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*capbroker(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start_broker(
    data_dir: Path,
    port: int,
    log: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ServerProcess:
    """`capbroker serve` in a child process, returned once /readyz answers 200."""
    return ServerProcess.start(
        [*capbroker(data_dir), "serve", "--port", str(port), *extra],
        ready=http_ready(f"http://{HOST}:{port}/readyz"),
        log=log,
        env=env,
        cwd=cwd,
    )


@contextmanager
def served_broker(data_dir: Path, log: Path) -> Iterator[str]:
    """A served broker's base URL; stopped (SIGTERM) on exit."""
    port = free_port()
    with start_broker(data_dir, port, log):
        yield f"http://{HOST}:{port}"


def start_gateway(
    data_dir: Path, providers: Path, port: int, log: Path, *extra: str, env: Mapping[str, str]
) -> ServerProcess:
    """`capbroker gateway serve` for ``providers``, returned once /readyz answers 200."""
    argv = [*capbroker(data_dir), "gateway", "serve", "--providers", str(providers)]
    return ServerProcess.start(
        [*argv, "--port", str(port), *extra],
        ready=http_ready(f"http://{HOST}:{port}/readyz"),
        log=log,
        env=env,
    )


def start_provider(
    port: int, log: Path, *options: str, env: Mapping[str, str], errors_log: Path | None = None
) -> ServerProcess:
    """`python -m broker.demo.provider --port PORT ...`, returned once /healthz answers."""
    return ServerProcess.start(
        [*PROVIDER_MODULE, "--port", str(port), *options],
        ready=http_ready(f"http://{HOST}:{port}/healthz"),
        log=log,
        env=env,
        errors_log=errors_log,
    )


@dataclass
class DemoStack:
    """A served broker seeded like the demo (its floor and template, an agent, the demo
    provider's master key in the data dir's secret store), the demo provider, and a
    providers file for gateways."""

    tmp: Path
    data: Path = field(init=False)
    broker_port: int = field(default_factory=free_port)
    agent: str = field(default="", repr=False)
    providers: Path = field(init=False)
    procs: list[ServerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data = self.tmp / "data"
        self.providers = self.tmp / "providers.yaml"
        self.log = self.tmp / "log"
        self.env = {
            **os.environ,
            "CAPBROKER_PORT": str(self.broker_port),
            "MASTER": secrets.token_urlsafe(24),
        }

    def start(self) -> None:
        self._seed()
        self.procs.append(start_broker(self.data, self.broker_port, self.log))
        provider_port = free_port()
        self.procs.append(
            start_provider(provider_port, self.log, "--key-env", "MASTER", env=self.env)
        )
        upstream = f"http://{HOST}:{provider_port}"
        route = {"name": PROVIDER, "route_map": PROVIDER, "upstream": upstream}
        self.providers.write_text(yaml.safe_dump({"providers": [route]}))

    def _seed(self) -> None:
        seed = Seed(
            manifests=[parse_manifest(FLOOR, "e2e#floor"), parse_manifest(TEMPLATE, "e2e#t")],
            provider_keys={PROVIDER: self.env["MASTER"]},
            principals=[Principal("agent", "claude-e2e")],
        )
        world = build_world(Settings(data_dir=self.data), seed, writer="e2e-seed")
        self.agent = world.credential("claude-e2e")
        world.close()

    def start_gateway(self, *extra: str) -> tuple[str, ServerProcess]:
        """`capbroker gateway serve`; its GraphQL URL for the demo provider, once ready."""
        port = free_port()
        proc = start_gateway(self.data, self.providers, port, self.log, *extra, env=self.env)
        self.procs.append(proc)
        return f"http://{HOST}:{port}/{PROVIDER}/graphql", proc

    def token_headers(self) -> dict[str, str]:
        token: dict[str, Any] = httpx.post(
            f"http://{HOST}:{self.broker_port}/v1/tokens",
            headers={"Authorization": f"Bearer {self.agent}"},
            json={"template": "staging-agent", "environment": "staging"},
        ).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop(timeout_s=20)


@contextmanager
def demo_stack(tmp: Path) -> Iterator[DemoStack]:
    stack = DemoStack(tmp)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
