"""The broker's own numbers: token issuance over HTTP and in-process verification.

``issue-sqlite`` and ``issue-postgresql`` run ``capbroker serve`` (one uvicorn
worker, the shipped settings) on a fresh data directory on disk, apply
``examples/templates``, create one agent and load ``POST /v1/tokens`` with wrk.
Every token a client received must have its record: after the run the rows in
``tokens`` are counted and compared with the 201 responses wrk counted (warm-up
included). Rows may exceed 201s by the requests still in flight when wrk
stopped; fewer rows than 201s fails the scenario.

``verify`` mints a real token from a running broker, builds the package's
``TokenVerifier`` from the broker's JWKS and metadata, as a gateway would, and
times ``verify`` call by call, next to a raw Ed25519 signature check.

Run alone: ``python -m benchmarks.broker_tokens --duration 5 [--database postgresql]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.durable_pg import check_durable, disk_tempdir, start_durable_postgres
from benchmarks.harness import (
    HOST,
    BenchmarkError,
    LoadResult,
    ServerProcess,
    TimingResult,
    run_wrk,
    time_alternating,
)
from tests.support.servers import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = REPO_ROOT / "examples" / "templates"
AGENT_NAME = "claude-bench"
AUDIENCE = "capbroker-gateway"
TOKEN_REQUEST = {"template": "staging-agent", "environment": "staging", "ttl": 300}
CREATED = 201
CLI_TIMEOUT_S = 60.0
VERIFY_TARGET_US = 120.0


@dataclass(frozen=True)
class IssuanceResult(LoadResult):
    """A load result plus the durability check: token records against 201 responses."""

    database: str = ""
    created_201: int = 0  # 201 responses wrk counted, warm-up included
    token_rows: int = 0  # rows in ``tokens`` written during the runs
    server_cpu_ms_per_request: float = 0.0  # the broker process's CPU time / requests
    durability: dict[str, str] | None = None


class Broker:
    """``capbroker serve`` on a fresh data dir (on disk), with the example template and an agent."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.port = free_port()
        self.server: ServerProcess | None = None
        self.credential = ""

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'capbroker.db'}"

    def cli(self, *args: str) -> str:
        argv = [sys.executable, "-m", "broker.cli.main", "--data-dir", str(self.data_dir)]
        if self.database_url:
            argv += ["--database-url", self.database_url]
        proc = subprocess.run(
            [*argv, *args],
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            cwd=REPO_ROOT,
            check=False,
        )
        if proc.returncode != 0:
            raise BenchmarkError(f"capbroker {' '.join(args)} failed:\n{proc.stderr}")
        return proc.stdout

    @classmethod
    def start(cls, database_url: str | None = None) -> Broker:
        broker = cls(disk_tempdir("capbroker-bench-data-"), database_url)
        try:
            broker.cli("apply", "-f", str(TEMPLATES))
            broker.credential = broker.cli("agents", "create", AGENT_NAME).strip()
            if not broker.credential.startswith("capb_agt_"):
                raise BenchmarkError("`capbroker agents create` printed no agent credential")
            argv = [sys.executable, "-m", "broker.cli.main", "--data-dir", str(broker.data_dir)]
            if database_url:
                argv += ["--database-url", database_url]
            broker.server = ServerProcess.start(
                [*argv, "serve", "--port", str(broker.port)],
                ready_url=f"{broker.base}/readyz",
                cwd=REPO_ROOT,
            )
        except BaseException:
            broker.close()
            raise
        return broker

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()

    def close(self) -> None:
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Broker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def token_request_kwargs(self) -> dict[str, Any]:
        return {
            "method": "POST",
            "body": json.dumps(TOKEN_REQUEST),
            "headers": {
                "Authorization": f"Bearer {self.credential}",
                "Content-Type": "application/json",
            },
        }

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:
            return json.loads(resp.read())

    def request_token(self, headers: dict[str, str] | None = None) -> str:
        """A token from ``POST /v1/tokens``; ``headers`` added (a ``DPoP`` proof binds it)."""
        kwargs = self.token_request_kwargs
        req = urllib.request.Request(
            f"{self.base}/v1/tokens",
            data=kwargs["body"].encode(),
            method="POST",
            headers={**kwargs["headers"], **(headers or {})},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status != CREATED:
                raise BenchmarkError(f"POST /v1/tokens answered {resp.status}, not 201")
            return str(json.loads(resp.read())["access_token"])

    def count_tokens(self) -> int:
        engine = create_engine(self.effective_database_url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM tokens")).scalar_one())
        finally:
            engine.dispose()


def _issue(duration_s: float, database: str, database_url: str | None) -> IssuanceResult:
    with Broker.start(database_url) as broker:
        before = broker.count_tokens()
        url = f"{broker.base}/v1/tokens"
        kwargs = {**broker.token_request_kwargs, "count_status": CREATED}
        warm = run_wrk(url, duration_s=1, **kwargs)
        assert broker.server is not None
        cpu_before = broker.server.cpu_seconds()
        result = run_wrk(url, duration_s=duration_s, **kwargs)
        cpu_ms = (broker.server.cpu_seconds() - cpu_before) * 1000.0
        broker.stop_server()  # every in-flight request has finished or died: count settles
        rows = broker.count_tokens() - before
    if result.non_2xx or warm.non_2xx:
        raise BenchmarkError(
            f"{database}: {warm.non_2xx + result.non_2xx} non-2xx answers to POST /v1/tokens"
        )
    created = (warm.status_count or 0) + (result.status_count or 0)
    if created != warm.requests + result.requests:
        raise BenchmarkError(
            f"{database}: {created} 201s of {warm.requests + result.requests} responses"
        )
    if rows < created:
        raise BenchmarkError(
            f"{database}: clients received {created} tokens but only {rows} have a record"
        )
    return IssuanceResult(
        **result.as_dict(),
        database=database,
        created_201=created,
        token_rows=rows,
        server_cpu_ms_per_request=cpu_ms / result.requests,
    )


def issue_sqlite(duration_s: float) -> IssuanceResult:
    """Issuance against the embedded default: SQLite (WAL) in a data dir on disk."""
    return _issue(duration_s, "sqlite", None)


def issue_postgresql(duration_s: float) -> IssuanceResult:
    """Issuance against a PostgreSQL 15 on disk, fsync and synchronous_commit on."""
    server = start_durable_postgres()
    try:
        durability = check_durable(server)
        server.create_database("capbroker")
        result = _issue(duration_s, "postgresql", server.url("capbroker"))
    finally:
        server.stop()
    fields = result.as_dict()
    fields["durability"] = durability
    return IssuanceResult(**fields)


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify(duration_s: float) -> TimingResult:
    """TokenVerifier.verify per call on a real broker token, and raw Ed25519 as the floor."""
    from broker.tokens import TokenVerifier, public_key_from_jwk

    with Broker.start() as broker:
        token = broker.request_token()
        jwks = broker.get_json("/.well-known/jwks.json")
        issuer = broker.get_json("/.well-known/oauth-authorization-server")["issuer"]
    keys = {jwk["kid"]: public_key_from_jwk(jwk) for jwk in jwks["keys"]}
    verifier = TokenVerifier(keys.get, issuer=issuer, audience=AUDIENCE)
    now = time.time()
    verified = verifier.verify(token, now=now)  # raises if the token does not verify
    header_b64, payload_b64, signature_b64 = token.split(".")
    kid = json.loads(_b64url(header_b64))["kid"]
    key = keys[kid]
    signing_input = f"{header_b64}.{payload_b64}".encode()
    signature = _b64url(signature_b64)
    key.verify(signature, signing_input)
    # About a second of calls per timing at the target speed, scaled with --duration.
    n = max(1000, min(20_000, int(duration_s * 2000)))
    return TimingResult(
        # Alternating call by call: the two rows are compared, and this machine's speed
        # drifts by tens of percent from one second to the next.
        timings=time_alternating(
            {
                "TokenVerifier.verify": lambda: verifier.verify(token, now=now),
                "raw Ed25519 verify": lambda: key.verify(signature, signing_input),
            },
            n=n,
        ),
        target_us=VERIFY_TARGET_US,
        notes={"token_bytes": len(token), "jti": verified.jti},
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    run = issue_sqlite if args.database == "sqlite" else issue_postgresql
    print(run(args.duration))
    print(verify(args.duration))


if __name__ == "__main__":
    main()
