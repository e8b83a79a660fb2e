"""Running the real `capbroker` command: one-shot CLI calls and a served broker."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker.cli.main", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start_broker(data_dir: Path, port: int, log: IO[str], *extra: str) -> subprocess.Popen[str]:
    """`capbroker serve` in a child process, returned once /readyz answers 200."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broker.cli.main",
            "--data-dir",
            str(data_dir),
            "serve",
            "--port",
            str(port),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the broker did not become ready")


@contextmanager
def served_broker(data_dir: Path, log: IO[str]) -> Iterator[str]:
    """A served broker's base URL; stopped (SIGTERM) on exit."""
    port = free_port()
    proc = start_broker(data_dir, port, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_ready(url: str, proc: subprocess.Popen[str]) -> None:
    for _ in range(400):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "process exited early"
        time.sleep(0.05)
    raise RuntimeError(f"{url} never became ready")


@dataclass
class DemoStack:
    """A served broker with the demo's floor and template, an agent, the demo provider
    (its master key in the data dir's secret store) and a providers file for gateways."""

    tmp: Path
    data: Path = field(init=False)
    broker_port: int = field(default_factory=free_port)
    agent: str = ""
    providers: Path = field(init=False)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data = self.tmp / "data"
        self.providers = self.tmp / "providers.yaml"
        self.log = (self.tmp / "log").open("a")
        self.env = {
            **os.environ,
            "CAPBROKER_PORT": str(self.broker_port),
            "MASTER": secrets.token_urlsafe(24),
        }

    def start(self) -> None:
        import yaml

        from broker.demo.scene import FLOOR, TEMPLATE

        self.procs.append(start_broker(self.data, self.broker_port, self.log))
        manifests = self.tmp / "m.yaml"
        manifests.write_text(yaml.safe_dump_all([FLOOR, TEMPLATE]))
        assert cli(self.data, "apply", "-f", str(manifests)).returncode == 0
        self.agent = cli(self.data, "agents", "create", "claude-e2e").stdout.strip()
        put = subprocess.run(
            [*_capbroker(self.data), "secrets", "put", "railway-demo"],
            input=self.env["MASTER"],
            text=True,
            capture_output=True,
            check=False,
        )
        assert put.returncode == 0, put.stderr
        provider_port = free_port()
        self._spawn(
            [
                sys.executable,
                "-m",
                "broker.demo.provider",
                "--port",
                str(provider_port),
                "--key-env",
                "MASTER",
            ],
            f"http://127.0.0.1:{provider_port}/healthz",
        )
        self.providers.write_text(
            yaml.safe_dump(
                {
                    "providers": [
                        {
                            "name": "railway-demo",
                            "route_map": "railway-demo",
                            "upstream": f"http://127.0.0.1:{provider_port}",
                        }
                    ]
                }
            )
        )

    def start_gateway(self, *extra: str) -> tuple[str, subprocess.Popen[str]]:
        """`capbroker gateway serve`; its GraphQL URL for the demo provider, once ready."""
        port = free_port()
        proc = self._spawn(
            [
                *_capbroker(self.data),
                "gateway",
                "serve",
                "--providers",
                str(self.providers),
                "--port",
                str(port),
                *extra,
            ],
            f"http://127.0.0.1:{port}/readyz",
        )
        return f"http://127.0.0.1:{port}/railway-demo/graphql", proc

    def token_headers(self) -> dict[str, str]:
        token: dict[str, Any] = httpx.post(
            f"http://127.0.0.1:{self.broker_port}/v1/tokens",
            headers={"Authorization": f"Bearer {self.agent}"},
            json={"template": "staging-agent", "environment": "staging"},
        ).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    def _spawn(self, argv: list[str], ready_url: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, text=True
        )
        self.procs.append(proc)
        wait_ready(ready_url, proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=20)
        self.log.close()


@contextmanager
def demo_stack(tmp: Path) -> Iterator[DemoStack]:
    stack = DemoStack(tmp)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _capbroker(data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "broker.cli.main", "--data-dir", str(data_dir)]
