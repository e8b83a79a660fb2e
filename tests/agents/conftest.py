"""The agents tests' world: the Railway stack (tests/support/railway_stack.py) with the
broker's own API served too, so the real ``capbroker`` command talks HTTP to both."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.api.app import create_app
from broker.demo.provider.server import ServerThread
from tests.support.railway_stack import RailwayStack, build_railway_stack

ROOT = Path(__file__).resolve().parents[2]
CAPBROKER = [sys.executable, "-m", "broker.cli.main"]
# How hooks run this clone's capbroker (a hook's command is a shell string).
CAPBROKER_CMD = " ".join(shlex.quote(a) for a in CAPBROKER)


@dataclass
class AgentWorld:
    rw: RailwayStack
    broker_url: str
    credential_file: Path
    project: Path

    @property
    def gateway_url(self) -> str:
        return self.rw.url

    def revocations_read(self, wait_s: float = 10.0) -> None:
        """Wait (bounded) until the gateway's revocation feed has read past this moment:
        it learns of revocations by polling (docs/gateway.md)."""
        ended = time.time()
        deadline = time.monotonic() + wait_s
        while not self.rw.gateway.feed.read_after(ended):
            assert time.monotonic() < deadline, "the gateway never read the revocation"
            time.sleep(0.05)

    def env(self, **more: str) -> dict[str, str]:
        """The environment of a hook or a shell: this clone first, no agent credential."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("CAPBROKER_")}
        return {**base, "PYTHONPATH": str(ROOT), **more}

    def cli(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CAPBROKER, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(**env),
            cwd=self.project,
            check=False,
        )


@pytest.fixture(scope="module")
def _world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentWorld]:
    tmp = tmp_path_factory.mktemp("agents")
    for rw in build_railway_stack(tmp, f"sqlite:///{tmp}/capbroker.db"):
        with ServerThread(create_app(rw.services)) as broker:
            credential = tmp / "agent-credential"
            credential.write_text(rw.agent + "\n")
            credential.chmod(0o600)
            project = tmp / "project"
            project.mkdir()
            yield AgentWorld(rw, broker.url, credential, project)


@pytest.fixture
def world(_world: AgentWorld) -> AgentWorld:
    _world.rw.reset()
    shutil.rmtree(_world.project / ".capbroker", ignore_errors=True)
    return _world
