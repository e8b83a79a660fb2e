"""The tests' deployments: the demo's world builder (``broker.demo.world``) with the tests'
issuer, audience and writer name. The gateway stack, the API broker and the Vault world
all seed their store through ``seeded_world``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from broker.clock import Clock, system_clock
from broker.demo.world import Seed, World, build_world
from broker.settings import Settings

ISSUER = "http://broker.test"
AUDIENCE = "capbroker-gateway"
WRITER = "test-broker"


def broker_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings of a broker whose data dir is ``tmp_path/data``, on ``database_url``."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        issuer=ISSUER,
        audience=AUDIENCE,
    )


def seeded_world(
    settings: Settings,
    seed: Seed,
    *,
    clock: Clock = system_clock,
    environ: Mapping[str, str] | None = None,
) -> World:
    return build_world(settings, seed, clock=clock, environ=environ, writer=WRITER)
