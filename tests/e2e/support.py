"""Running the real `capbroker` command: one-shot CLI calls and a served broker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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
