"""A real broker process and a real gateway process (``capbroker serve``, ``capbroker gateway
serve``) in front of a faulty upstream (faulty_upstream.py, in the test's process) behind
the echo map; settings for both processes come as ``CAPBROKER_*`` variables. Tokens are
minted in the test's process on the same store (the broker's keys sign them)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from broker.demo.world import Principal, Seed, World, build_world
from broker.domain.grants import GrantRequest
from broker.manifests import parse_manifest
from broker.settings import Settings
from tests.support.factories import template_doc
from tests.support.faulty_upstream import FaultyUpstream
from tests.support.processes import start_broker, start_gateway
from tests.support.servers import HOST, ServerProcess, free_port

ECHO_MAP = Path(__file__).with_name("echo-map.yaml")


@dataclass
class ProcessStack:
    world: World = field(repr=False)
    broker_url: str
    gateway_url: str
    broker: ServerProcess
    gateway: ServerProcess
    upstream: FaultyUpstream

    def token(self) -> str:
        grant = GrantRequest("echo-staging", "staging")
        credential = self.world.credential("claude-code")
        return self.world.services.issuance.issue(credential, grant).access_token

    @staticmethod
    def rss_kib(process: ServerProcess, kind: str = "RssAnon") -> int:
        """The process's resident memory of ``kind`` (``RssAnon``: its heap, not the store
        files it maps, which the kernel may drop at will)."""
        status = Path(f"/proc/{process.process.pid}/status").read_text()
        lines = status.splitlines()
        return next(int(line.split()[1]) for line in lines if line.startswith(kind + ":"))


@contextmanager
def process_stack(
    tmp: Path, *, ttl: str, settings: Mapping[str, str], gateway_args: tuple[str, ...] = ()
) -> Iterator[ProcessStack]:
    """Both servers with ``settings`` (``CAPBROKER_*`` variables), tokens living ``ttl``;
    ``gateway_args`` go to ``gateway serve`` (e.g. ``--workers 2``)."""
    data = tmp / "data"
    template = template_doc(
        "echo-staging",
        provider="echo",
        environments=["staging"],
        actions=["echo:read", "echo:write"],
        ttl={"default": ttl, "max": ttl},
        agents=["claude-*"],
    )
    seed = Seed(
        manifests=[parse_manifest(template, "soak#t")],
        provider_keys={"echo": "soak-master-key-0123456789"},
        principals=[Principal("agent", "claude-code")],
    )
    broker_port, gateway_port = free_port(), free_port()
    env = {**os.environ, **settings, "CAPBROKER_PORT": str(broker_port)}
    world = build_world(
        Settings(data_dir=data, port=broker_port, leeway=int(settings.get("CAPBROKER_LEEWAY", 30))),
        seed,
        writer="soak-seed",
    )
    upstream = FaultyUpstream().start()
    providers = tmp / "providers.yaml"
    route = {"name": "echo", "route_map": str(ECHO_MAP), "upstream": upstream.url}
    providers.write_text(yaml.safe_dump({"providers": [route]}))
    log = tmp / "log"
    procs: list[ServerProcess] = []
    try:
        procs.append(start_broker(data, broker_port, log, env=env))
        procs.append(start_gateway(data, providers, gateway_port, log, *gateway_args, env=env))
        yield ProcessStack(
            world,
            f"http://{HOST}:{broker_port}",
            f"http://{HOST}:{gateway_port}",
            procs[0],
            procs[1],
            upstream,
        )
    finally:
        for proc in reversed(procs):
            proc.stop(timeout_s=20)
        upstream.stop()
        world.close()
