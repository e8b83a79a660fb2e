"""The gateway against plain proxies, all in one run, in front of one fast upstream.

Rows (each at 1 and 32 connections, REST ``GET /items/1`` and GraphQL ``POST /graphql``):

- ``direct``: the upstream itself (``benchmarks.proxy_upstream``: raw ASGI, uvicorn,
  uvloop + httptools, one worker, small fixed JSON);
- ``nginx``: Debian's nginx as a plain reverse proxy (one worker, upstream keep-alive),
  what a user would deploy for raw proxying;
- ``plain-proxy``: the fastest plain Python proxy we could write (``benchmarks.plain_proxy``:
  raw ASGI + pooled aiohttp, streaming, no checks, one worker, or ``--workers N``): the
  baseline of the targets;
- ``gateway``: ``capbroker gateway serve`` (one worker, or ``--workers N`` like the plain
  proxy) with a route map for the upstream:
  ``GET /items/{id}`` unscoped, ``GET /projects/{project}/items/{id}`` environment-scoped
  through the admin-kept inventory (``rest-scoped``), GraphQL query field ``item`` unscoped.
  Its broker store is a fresh data dir on disk (SQLite, WAL); every request writes its
  audit events (group commit) there, which is part of what is measured. The JWKS comes
  from a running ``capbroker serve``; the token from its ``POST /v1/tokens``.

The plain proxy and the gateway are measured in alternating rounds, each row kept at its
best round. Then the gateway alone at growing sizes: route maps of 10, 100, 1,000 and
10,000 REST rules (generated), and a revocation set of 0 and 1,000,000 entries (500,000
revoked tokens and 500,000 ended sessions, inserted directly into ``tokens``/``sessions``
of a copy of the store, with far-future expiry, before its gateway starts). Each size is
a ``gateway serve`` of its own, loaded by wrk once: its req/s, p50, CPU per request (the
process's own, from ``/proc``), resident memory (VmRSS) and start-up time are shown.

The flatness verdicts do not come from those rows: on a shared machine one server's CPU
per request moves by 20% between minutes, more than the 10% to be resolved. They come
from ``benchmarks.gateway_flatness``, run here first, on the fresh store and the same
upstream: every size in one process, in interleaved rounds (its docstring says how).

Every server binds to 127.0.0.1 on a free port and is stopped when the scenario ends.

Run alone: ``python -m benchmarks.gateway_proxy --duration 5``; in the suite:
``python -m benchmarks --only gateway``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from benchmarks.durable_pg import disk_tempdir
from benchmarks.harness import (
    HOST,
    BenchmarkError,
    LoadResult,
    ServerProcess,
    calibrate,
    process_tree,
    run_wrk,
)
from tests.support.servers import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICY_FLOOR = REPO_ROOT / "examples" / "templates" / "policy-floor.yaml"
PROVIDER = "bench"
TEMPLATE = "bench-agent"
AGENT_NAME = "claude-bench"
MASTER_KEY = "bench-master-key-0123456789abcdef"
CLI_TIMEOUT_S = 120.0
GATEWAY_READY_TIMEOUT_S = 180.0  # loading a million revocations takes a while
CONNECTIONS = (1, 32)
MAP_SIZES = (10, 100, 1_000, 10_000)
REVOCATION_SIZES = (0, 1_000_000)
FAR_FUTURE_S = 10 * 365 * 86400.0

# Targets (issue 4, "Performance"): against the plain Python proxy, same worker count.
MIN_THROUGHPUT_RATIO = 0.80
MAX_ADDED_P50_MS = 0.25
MAX_P99_OVER_P50 = 2.0
AB_ROUNDS = 2  # plain proxy and gateway, alternating
MAX_COST_SPREAD = 1.10

GRAPHQL_BODY = json.dumps({"query": 'query { item(id: "1") { id name } }'})


@dataclass(frozen=True)
class RequestKind:
    name: str
    path: str  # upstream path; the gateway serves it under /{provider}
    method: str = "GET"
    body: str | None = None

    def wrk_kwargs(self, token: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return {"method": self.method, "body": self.body, "headers": headers}


REST = RequestKind("rest", "/items/1")
REST_SCOPED = RequestKind("rest-scoped", "/projects/p1/items/1")
GRAPHQL = RequestKind("graphql", "/graphql", "POST", GRAPHQL_BODY)
# The plain proxy's row each gateway row is compared with (scoped: the same GET).
BASELINE_KIND = {"rest": "rest", "rest-scoped": "rest", "graphql": "graphql"}

# The targets, keyed; __main__ turns them into MET/MISSED lines.
TARGET_DESCRIPTIONS: dict[str, str] = {
    **{
        f"throughput-{k}": f"{k}: req/s (32 conn) >= {MIN_THROUGHPUT_RATIO:.0%} of plain-proxy"
        for k in ("rest", "rest-scoped", "graphql")
    },
    **{
        f"added-p50-{k}": f"{k}: p50 (1 conn) - plain-proxy p50 < {MAX_ADDED_P50_MS} ms"
        for k in ("rest", "rest-scoped", "graphql")
    },
    **{
        f"added-p50-{k}-calibrated": (
            f"{k}: calibrated: p50 (1 conn) - plain-proxy p50 < {MAX_ADDED_P50_MS}*f ms"
        )
        for k in ("rest", "rest-scoped", "graphql")
    },
    **{
        f"tail-{k}": f"{k}: p99 (32 conn) <= {MAX_P99_OVER_P50:g}x its p50 (32 conn)"
        for k in ("rest", "rest-scoped", "graphql")
    },
    "flat-route-map": (
        f"cpu/req flat within {MAX_COST_SPREAD - 1:.0%}, route map "
        f"{MAP_SIZES[0]:,} -> {MAP_SIZES[-1]:,} rules"
    ),
    "flat-revocations": (
        f"cpu/req flat within {MAX_COST_SPREAD - 1:.0%}, revocations "
        f"{REVOCATION_SIZES[0]:,} -> {REVOCATION_SIZES[-1]:,}"
    ),
}


@dataclass(frozen=True)
class ProxyComparison(LoadResult):
    """The gateway's REST row at 32 connections (for the suite's table), plus every row."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    scaling: list[dict[str, Any]] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    targets: dict[str, bool] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def report(self) -> str:
        return "\n\n".join(
            [
                _rows_table(self.rows),
                _ratios_table(self.rows),
                _scaling_table(self.scaling),
                _flatness_table(self.notes.get("flatness_in_process", {})),
            ]
        )


# -- the servers -------------------------------------------------------------------------


def ensure_nginx() -> str:
    """Path of nginx; installs the Debian package when missing and we are root."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchmarkError("nginx is not installed; run `sudo apt-get install -y nginx`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "nginx"]
    print(f"nginx missing; running: {' '.join(install)}", file=sys.stderr, flush=True)
    if subprocess.run(install, env=env, timeout=600, check=False).returncode != 0:
        print("install failed; running: apt-get update, then retrying", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-q"], env=env, timeout=600, check=False)
        subprocess.run(install, env=env, timeout=600, check=False)
    if not Path("/usr/sbin/nginx").exists():
        raise BenchmarkError("could not install nginx with apt-get; install it and rerun")
    return "/usr/sbin/nginx"


NGINX_CONF = """\
daemon off;
worker_processes 1;
error_log stderr warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream bench_upstream {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx_server(upstream_port: int) -> Iterator[str]:
    nginx = ensure_nginx()
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="capbroker-bench-nginx-"))
    tmp.chmod(0o755)  # the worker runs as an unprivileged user
    try:
        conf = tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(tmp=tmp, upstream=f"{HOST}:{upstream_port}", host=HOST, port=port)
        )
        base = f"http://{HOST}:{port}"
        with ServerProcess.start(
            [nginx, "-e", "stderr", "-p", str(tmp), "-c", str(conf)],
            ready_url=f"{base}{REST.path}",
        ):
            yield base
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def python_server(module: str, *args: str) -> Iterator[tuple[str, ServerProcess]]:
    port = free_port()
    base = f"http://{HOST}:{port}"
    with ServerProcess.start(
        [sys.executable, "-m", module, "--port", str(port), *args],
        ready_url=f"{base}{REST.path}",
        cwd=REPO_ROOT,
    ) as server:
        yield base, server


def route_map(upstream: str, rules: int) -> dict[str, Any]:
    """The bench provider's map: the two measured REST rules plus generated distinct ones."""
    if rules < 2:
        raise ValueError("a map needs at least the two measured rules")
    rest: list[dict[str, Any]] = [
        {
            "method": "GET",
            "path": "/items/{id}",
            "action": "item:read",
            "resources": ["item:{id}"],
            "environment": {"unscoped": True},
        },
        {
            "method": "GET",
            "path": "/projects/{project}/items/{id}",
            "action": "item:read",
            "resources": ["item:{id}"],
            "environment": {"inventory": "project:{project}"},
        },
    ]
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    for i in range(rules - 2):
        method = methods[i % len(methods)]
        depth = i % 3
        path = f"/s{i // 50}/r{i % 50}/{{id}}" + "".join(f"/u{d}/{{s{d}}}" for d in range(depth))
        rest.append(
            {
                "method": method,
                "path": path,
                "action": "x:r" if method == "GET" else "x:w",  # short: maps are capped at 1 MiB
                "environment": {"unscoped": True} if i % 2 else {"inventory": f"s{i // 50}:{{id}}"},
            }
        )
    return {
        "apiVersion": "capbroker.dev/v1",
        "kind": "RouteMap",
        "metadata": {"name": PROVIDER},
        "spec": {
            "provider": PROVIDER,
            "upstream": upstream,
            "auth": {"header": "Authorization", "format": "Bearer {key}"},
            "actions": {
                "item:read": {"effect": "read"},
                "x:r": {"effect": "read"},
                "x:w": {"effect": "write"},
            },
            "rest": rest,
            "graphql": {
                "endpoint": "/graphql",
                "operations": {
                    "query": {
                        "item": {
                            "action": "item:read",
                            "resources": ["item:{args.id}"],
                            "environment": {"unscoped": True},
                        }
                    }
                },
            },
        },
    }


TEMPLATE_DOC = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "CapabilityTemplate",
    "metadata": {"name": TEMPLATE},
    "spec": {
        "provider": PROVIDER,
        "description": "Benchmark agent: reads items in staging.",
        "environments": ["staging"],
        "actions": ["item:read"],
        "resources": ["item:*"],
        "ttl": {"default": "1h", "max": "1h"},
        "agents": ["claude-*"],
    },
}


class GatewayStack:
    """A broker data dir on disk, ``capbroker serve`` (JWKS, tokens) and a gateway factory."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.data_dir = disk_tempdir("capbroker-bench-gw-")
        self.work = Path(tempfile.mkdtemp(prefix="capbroker-bench-gwconf-"))
        self.broker_port = free_port()
        self.env = {
            "CAPBROKER_ISSUER": f"http://{HOST}:{self.broker_port}",
            "CAPBROKER_PORT": str(self.broker_port),
        }
        self.broker: ServerProcess | None = None
        self.token = ""
        self.clones: list[Path] = []

    @property
    def db_path(self) -> Path:
        return self.data_dir / "capbroker.db"

    def _argv(self, data_dir: Path | None = None) -> list[str]:
        chosen = data_dir if data_dir is not None else self.data_dir
        return [sys.executable, "-m", "broker.cli.main", "--data-dir", str(chosen)]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [*self._argv(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            check=False,
        )
        if proc.returncode != 0:
            raise BenchmarkError(f"capbroker {' '.join(args)} failed:\n{proc.stderr}")
        return proc.stdout

    def start(self) -> None:
        manifests = self.work / "manifests"
        manifests.mkdir()
        (manifests / "bench-agent.yaml").write_text(json.dumps(TEMPLATE_DOC))
        shutil.copy(POLICY_FLOOR, manifests / "policy-floor.yaml")
        self.cli("apply", "-f", str(manifests))
        credential = self.cli("agents", "create", AGENT_NAME).strip()
        if not credential.startswith("capb_agt_"):
            raise BenchmarkError("`capbroker agents create` printed no agent credential")
        self.cli("secrets", "put", PROVIDER, stdin=MASTER_KEY)
        base = f"http://{HOST}:{self.broker_port}"
        self.broker = ServerProcess.start(
            [*self._argv(), "serve", "--port", str(self.broker_port)],
            ready_url=f"{base}/readyz",
            env=self.env,
            cwd=REPO_ROOT,
        )
        request = urllib.request.Request(
            f"{base}/v1/tokens",
            data=json.dumps({"template": TEMPLATE, "environment": "staging", "ttl": 3600}).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            self.token = str(json.loads(resp.read())["access_token"])

    def providers_file(self, rules: int) -> Path:
        map_path = self.work / f"bench-{rules}.yaml"
        if not map_path.exists():
            map_path.write_text(json.dumps(route_map(self.upstream, rules), separators=(",", ":")))
        providers = self.work / f"providers-{rules}.yaml"
        providers.write_text(
            json.dumps(
                {
                    "providers": [
                        {
                            "name": PROVIDER,
                            "route_map": str(map_path),
                            "upstream": self.upstream,
                            "inventory": {"project:p1": ["staging"]},
                        }
                    ]
                }
            )
        )
        return providers

    def clone_data_dir(self) -> Path:
        """A copy of the broker's data dir (same signing keys, agent and master key): a
        gateway of its own can then see a different revocation set."""
        clone = disk_tempdir("capbroker-bench-gw-clone-")
        self.clones.append(clone)
        for item in self.data_dir.iterdir():
            if item.name.startswith("capbroker.db"):
                continue
            if item.is_dir():
                shutil.copytree(item, clone / item.name)
            else:
                shutil.copy2(item, clone / item.name)
        source = sqlite3.connect(self.db_path)
        target = sqlite3.connect(clone / "capbroker.db")
        try:
            source.backup(target)  # consistent while the broker has it open
        finally:
            source.close()
            target.close()
        return clone

    @contextlib.contextmanager
    def gateway(
        self, rules: int = 10, data_dir: Path | None = None, workers: int = 1
    ) -> Iterator[tuple[str, ServerProcess]]:
        port = free_port()
        base = f"http://{HOST}:{port}"
        argv = [
            *self._argv(data_dir),
            "gateway",
            "serve",
            "--providers",
            str(self.providers_file(rules)),
            "--workers",
            str(workers),
        ]
        with ServerProcess.start(
            [*argv, "--port", str(port)],
            ready_url=f"{base}/readyz",
            env=self.env,
            cwd=REPO_ROOT,
            timeout_s=GATEWAY_READY_TIMEOUT_S,
        ) as server:
            yield f"{base}/{PROVIDER}", server

    @staticmethod
    def add_revocations(db_path: Path, total: int) -> None:
        """Add a revocation set of ``total`` entries to a cloned store: half revoked tokens,
        half ended sessions (each with one token), expiring far in the future, revoked in
        the past hour (older than the gateway's cursor overlap, as a long-running system's
        are)."""
        if total <= 0:
            return
        now = time.time()
        conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            agent_id = conn.execute(
                "SELECT id FROM principals WHERE name = ?", (AGENT_NAME,)
            ).fetchone()[0]
            kid = conn.execute("SELECT kid FROM tokens LIMIT 1").fetchone()[0]
            # One session and one token per entry: odd n, the session ended (its token
            # expires in the far future, so the session stays revoked); even n, the token
            # revoked (in a live session).
            chunk = 50_000
            end = total
            for start in range(0, end, chunk):
                stop = min(start + chunk, end)
                sessions = []
                tokens = []
                for n in range(start, stop):
                    at = now - 3600 + (n % 3000)
                    sid = f"ses_bench_{n:08d}"
                    sessions.append((sid, agent_id, at - 60, at if n % 2 else None))
                    tokens.append(
                        (
                            f"jti_bench_{n:08d}",
                            sid,
                            agent_id,
                            TEMPLATE,
                            1,
                            PROVIDER,
                            "staging",
                            '["item:read"]',
                            kid,
                            at - 60,
                            now + FAR_FUTURE_S,
                            None if n % 2 else at,
                        )
                    )
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO sessions (id, agent_id, created_at, ended_at) VALUES (?,?,?,?)",
                    sessions,
                )
                conn.executemany(
                    "INSERT INTO tokens (jti, session_id, agent_id, template_name,"
                    " template_version, provider, environment, actions, kid, issued_at,"
                    " expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    tokens,
                )
                conn.execute("COMMIT")
        finally:
            conn.close()

    def close(self) -> None:
        try:
            if self.broker is not None:
                self.broker.stop()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.rmtree(self.work, ignore_errors=True)
            for clone in self.clones:
                shutil.rmtree(clone, ignore_errors=True)


# -- measuring ---------------------------------------------------------------------------


def rss_kib(server: ServerProcess) -> int | None:
    """Resident memory of the server, its workers included."""
    total = 0
    try:
        for pid in process_tree(server.proc.pid):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    except OSError:
        return None
    return total or None


def measure(
    target: str,
    base: str,
    kind: RequestKind,
    connections: int,
    duration_s: float,
    token: str,
    server: ServerProcess | None = None,
) -> dict[str, Any]:
    kwargs = kind.wrk_kwargs(token)
    cpu_before = server.cpu_seconds() if server is not None else 0.0
    result = run_wrk(
        base + kind.path,
        connections=connections,
        threads=min(2, connections),
        duration_s=duration_s,
        **kwargs,
    )
    if result.non_2xx:
        raise BenchmarkError(
            f"{target} {kind.name}: {result.non_2xx} non-2xx answers of {result.requests}"
        )
    row: dict[str, Any] = {"target": target, "kind": kind.name, **result.as_dict()}
    if server is not None:
        cpu_ms = (server.cpu_seconds() - cpu_before) * 1000.0
        row["cpu_ms_per_request"] = cpu_ms / result.requests
    print(
        f"  {target:<12} {kind.name:<12} c={connections:<3} {result.requests_per_s:>9.0f} req/s"
        f"  p50 {result.p50_ms:.3f} ms  p99 {result.p99_ms:.3f} ms",
        file=sys.stderr,
        flush=True,
    )
    return row


def measure_all(
    target: str,
    base: str,
    kinds: tuple[RequestKind, ...],
    duration_s: float,
    token: str,
    server: ServerProcess | None = None,
) -> list[dict[str, Any]]:
    rows = []
    for kind in kinds:
        run_wrk(  # warm-up, not recorded
            base + kind.path, connections=32, duration_s=1, **kind.wrk_kwargs(token)
        )
        for connections in CONNECTIONS:
            rows.append(measure(target, base, kind, connections, duration_s, token, server))
    return rows


def _find(rows: list[dict[str, Any]], target: str, kind: str, connections: int) -> dict[str, Any]:
    for row in rows:
        if (row["target"], row["kind"], row["connections"]) == (target, kind, connections):
            return row
    raise KeyError((target, kind, connections))


def _spread(values: list[float]) -> float:
    return max(values) / min(values)


def best_rows(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (target, kind, connections), the round with the most requests per second."""
    best: dict[tuple[str, str, int], dict[str, Any]] = {}
    for row in rounds:
        key = (row["target"], row["kind"], row["connections"])
        if key not in best or row["requests_per_s"] > best[key]["requests_per_s"]:
            best[key] = row
    return list(best.values())


def evaluate(
    rows: list[dict[str, Any]],
    scaling: list[dict[str, Any]],
    flat: dict[str, float],
    factor: float = 1.0,
) -> tuple[dict[str, float], dict[str, bool]]:
    """``flat``: per dimension, the in-process max/min of CPU per request
    (``gateway_flatness.spreads``). ``factor``: how much slower this machine is than the
    issue's (``Calibration``); it scales the one absolute target, the added p50."""
    ratios: dict[str, float] = {}
    targets: dict[str, bool] = {}
    for kind in ("rest", "rest-scoped", "graphql"):
        base_kind = BASELINE_KIND[kind]
        plain32 = _find(rows, "plain-proxy", base_kind, 32)
        plain1 = _find(rows, "plain-proxy", base_kind, 1)
        gw32 = _find(rows, "gateway", kind, 32)
        gw1 = _find(rows, "gateway", kind, 1)
        ratio = gw32["requests_per_s"] / plain32["requests_per_s"]
        added = gw1["p50_ms"] - plain1["p50_ms"]
        tail = gw32["p99_ms"] / gw32["p50_ms"]
        ratios[f"gateway/plain-proxy req/s {kind}"] = ratio
        ratios[f"gateway-plain-proxy p50 ms (1 conn) {kind}"] = added
        ratios[f"gateway p99/p50 (32 conn) {kind}"] = tail
        ratios[f"gateway p99 (32 conn) / plain-proxy p50 (32 conn) {kind}"] = (
            gw32["p99_ms"] / plain32["p50_ms"]
        )
        if gw32.get("cpu_ms_per_request") and plain32.get("cpu_ms_per_request"):
            # What the throughput ratio would be if each had a core to itself.
            ratios[f"plain-proxy/gateway cpu per request (32 conn) {kind}"] = (
                plain32["cpu_ms_per_request"] / gw32["cpu_ms_per_request"]
            )
        targets[f"throughput-{kind}"] = ratio >= MIN_THROUGHPUT_RATIO
        targets[f"added-p50-{kind}"] = added < MAX_ADDED_P50_MS
        targets[f"added-p50-{kind}-calibrated"] = added < MAX_ADDED_P50_MS * factor
        targets[f"tail-{kind}"] = tail <= MAX_P99_OVER_P50
    for kind in ("rest", "graphql"):
        plain32 = _find(rows, "plain-proxy", kind, 32)
        ratios[f"nginx/plain-proxy req/s {kind}"] = (
            _find(rows, "nginx", kind, 32)["requests_per_s"] / plain32["requests_per_s"]
        )
        ratios[f"direct/plain-proxy req/s {kind}"] = (
            _find(rows, "direct", kind, 32)["requests_per_s"] / plain32["requests_per_s"]
        )
    for dimension, key in (("rules", "flat-route-map"), ("revocations", "flat-revocations")):
        group = [r for r in scaling if r["dimension"] == dimension]
        if group:  # separate servers under wrk: shown, too noisy for the verdict
            ratios[f"wrk: cpu/req max/min over {dimension}"] = _spread(
                [r["cpu_ms_per_request"] for r in group]
            )
            ratios[f"wrk: req/s max/min over {dimension}"] = _spread(
                [r["requests_per_s"] for r in group]
            )
            ratios[f"wrk: p50 (1 conn) max/min over {dimension}"] = _spread(
                [r["p50_1conn_ms"] for r in group]
            )
        if dimension in flat:
            ratios[f"in-process: cpu/req max/min over {dimension}"] = flat[dimension]
            targets[key] = flat[dimension] <= MAX_COST_SPREAD
    return ratios, targets


def scaling_row(
    dimension: str,
    size: int,
    base: str,
    server: ServerProcess,
    duration_s: float,
    token: str,
    ready_s: float,
) -> dict[str, Any]:
    run_wrk(base + REST.path, connections=32, duration_s=1, **REST.wrk_kwargs(token))
    one = measure(f"gw {dimension}={size}", base, REST, 1, duration_s, token, server)
    many = measure(f"gw {dimension}={size}", base, REST, 32, duration_s, token, server)
    return {
        "dimension": dimension,
        "size": size,
        "requests_per_s": many["requests_per_s"],
        "p50_ms": many["p50_ms"],
        "p99_ms": many["p99_ms"],
        "cpu_ms_per_request": many["cpu_ms_per_request"],
        "p50_1conn_ms": one["p50_ms"],
        "cpu_ms_per_request_1conn": one["cpu_ms_per_request"],
        "rss_mib": (rss_kib(server) or 0) / 1024.0,
        "ready_s": ready_s,
    }


def size_rows(
    dimension: str,
    configs: list[tuple[int, str, ServerProcess, float]],
    duration_s: float,
    token: str,
) -> list[dict[str, Any]]:
    """``scaling_row`` for every (size, base, server, ready_s), once each: shown for memory
    and start-up time; the flatness verdicts come from ``gateway_flatness``."""
    return [
        scaling_row(dimension, size, base, server, duration_s, token, ready_s)
        for size, base, server, ready_s in configs
    ]


def gateway(
    duration_s: float,
    *,
    map_sizes: tuple[int, ...] = MAP_SIZES,
    revocation_sizes: tuple[int, ...] = REVOCATION_SIZES,
    workers: int = 1,
) -> ProxyComparison:
    """Every row in one run; see the module docstring. ``workers``: worker processes of the
    plain proxy and of the gateway alike, for the rows the targets compare."""
    ensure_nginx()
    rows: list[dict[str, Any]] = []
    scaling: list[dict[str, Any]] = []
    flat: dict[str, float] = {}
    notes: dict[str, Any] = {}
    with python_server("benchmarks.proxy_upstream") as (upstream, _):
        upstream_port = int(upstream.rsplit(":", 1)[1])
        stack = GatewayStack(upstream)
        try:
            stack.start()
            token = stack.token
            notes["token_bytes"] = len(token)
            # First, on the fresh store: after the wrk rows it holds a million or more
            # audit events, and copies of it (one per revocation size) are slow and large.
            print("  flatness, in one process:", file=sys.stderr)
            # Imported here: gateway_flatness builds on this module.
            from benchmarks.gateway_flatness import flatness, spreads

            flat_report = uvloop.run(
                flatness(stack, map_sizes=map_sizes, revocation_sizes=revocation_sizes)
            )
            flat = spreads(flat_report)
            notes["flatness_in_process"] = {
                dim: {str(size): row["vs_first_median"] for size, row in flat_report[dim].items()}
                for dim in ("rules", "revocations")
            }
            print("  direct, nginx, plain-proxy, gateway:", file=sys.stderr)
            rows += measure_all("direct", upstream, (REST, GRAPHQL), duration_s, token)
            with nginx_server(upstream_port) as base:
                rows += measure_all("nginx", base, (REST, GRAPHQL), duration_s, token)
            plain = ("--upstream", upstream, "--workers", str(workers))
            with (
                python_server("benchmarks.plain_proxy", *plain) as (pbase, psrv),
                stack.gateway(map_sizes[0], workers=workers) as (gbase, gsrv),
            ):
                # The two rows the targets compare, measured in alternating rounds and each
                # kept at its best: the machine's speed drifts between minutes, and
                # alternating keeps a slow minute from landing on one side only.
                rounds: list[dict[str, Any]] = []
                for _ in range(AB_ROUNDS):
                    rounds += measure_all(
                        "plain-proxy", pbase, (REST, GRAPHQL), duration_s, token, psrv
                    )
                    kinds = (REST, REST_SCOPED, GRAPHQL)
                    rounds += measure_all("gateway", gbase, kinds, duration_s, token, gsrv)
                rows += best_rows(rounds)
                notes["ab_rounds"] = AB_ROUNDS
                notes["workers"] = workers
                notes["gateway_rss_mib"] = (rss_kib(gsrv) or 0) / 1024.0
            # Every size as a server of its own, loaded once: memory and start-up time
            # (the flatness verdicts came from the in-process measurement above).
            print("  route map sizes:", file=sys.stderr)
            with contextlib.ExitStack() as running:
                configs = []
                for rules in map_sizes:
                    started = time.monotonic()
                    base, srv = running.enter_context(stack.gateway(rules))
                    configs.append((rules, base, srv, time.monotonic() - started))
                scaling += size_rows("rules", configs, duration_s, token)
            print("  revocation set sizes:", file=sys.stderr)
            with contextlib.ExitStack() as running:
                configs = []
                for size in revocation_sizes:
                    started = time.monotonic()
                    clone = stack.clone_data_dir()
                    stack.add_revocations(clone / "capbroker.db", size)
                    notes[f"insert_{size}_s"] = round(time.monotonic() - started, 1)
                    started = time.monotonic()
                    base, srv = running.enter_context(stack.gateway(map_sizes[0], clone))
                    configs.append((size, base, srv, time.monotonic() - started))
                scaling += size_rows("revocations", configs, duration_s, token)
            notes["audit_events"] = _count(stack.db_path, "audit_events")
        finally:
            stack.close()
    calibration = calibrate()
    notes["calibration"] = calibration.as_dict()
    ratios, targets = evaluate(rows, scaling, flat, calibration.factor)
    head = _find(rows, "gateway", "rest", 32)
    fields = {k: head[k] for k in LoadResult.__dataclass_fields__}
    return ProxyComparison(
        **fields, rows=rows, scaling=scaling, ratios=ratios, targets=targets, notes=notes
    )


def _count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


# -- tables ------------------------------------------------------------------------------


def _rows_table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'target':<12} {'request':<12} {'conn':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu ms/req':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        cpu = f"{r['cpu_ms_per_request']:.3f}" if "cpu_ms_per_request" in r else ""
        lines.append(
            f"{r['target']:<12} {r['kind']:<12} {r['connections']:>4} {r['requests_per_s']:>9.0f} "
            f"{r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} {cpu:>10}"
        )
    return "\n".join(lines)


def _ratios_table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'request':<12} {'gw/plain':>9} {'nginx/plain':>12} {'direct/plain':>13} "
        f"{'+p50 ms @1':>11} {'gw p99/p50 @32':>15} {'plain cpu/gw cpu':>17}"
    )
    lines = [header, "-" * len(header)]
    for kind in ("rest", "rest-scoped", "graphql"):
        base_kind = BASELINE_KIND[kind]
        plain_row = _find(rows, "plain-proxy", base_kind, 32)
        plain32 = plain_row["requests_per_s"]
        gw32 = _find(rows, "gateway", kind, 32)
        cpu = ""
        if gw32.get("cpu_ms_per_request") and plain_row.get("cpu_ms_per_request"):
            cpu = f"{plain_row['cpu_ms_per_request'] / gw32['cpu_ms_per_request']:.2f}"
        added = (
            _find(rows, "gateway", kind, 1)["p50_ms"]
            - _find(rows, "plain-proxy", base_kind, 1)["p50_ms"]
        )
        nginx = direct = ""
        if kind == base_kind:
            nginx = f"{_find(rows, 'nginx', kind, 32)['requests_per_s'] / plain32:.2f}"
            direct = f"{_find(rows, 'direct', kind, 32)['requests_per_s'] / plain32:.2f}"
        lines.append(
            f"{kind:<12} {gw32['requests_per_s'] / plain32:>9.2f} {nginx:>12} {direct:>13} "
            f"{added:>11.3f} {gw32['p99_ms'] / gw32['p50_ms']:>15.2f} {cpu:>17}"
        )
    return "\n".join(lines)


def _scaling_table(scaling: list[dict[str, Any]]) -> str:
    header = (
        f"{'gateway REST with':<26} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/req':>10} "
        f"{'p50 @1':>7} {'RSS MiB':>8} {'ready s':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in scaling:
        label = f"{r['size']:,} {r['dimension']}"
        lines.append(
            f"{label:<26} {r['requests_per_s']:>8.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
            f"{r['cpu_ms_per_request']:>10.3f} {r['p50_1conn_ms']:>7.3f} {r['rss_mib']:>8.1f} "
            f"{r['ready_s']:>8.1f}"
        )
    return "\n".join(lines)


def _flatness_table(flat: dict[str, dict[str, float]]) -> str:
    header = f"{'in one process':<26} {'cpu/req vs the first size (median of rounds)':>45}"
    lines = [header, "-" * len(header)]
    for dimension, sizes in flat.items():
        for size, ratio in sizes.items():
            lines.append(f"{f'{int(size):,} {dimension}':<26} {ratio:>45.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument(
        "--map-sizes", default=",".join(map(str, MAP_SIZES)), help="REST rules per map, a,b,..."
    )
    parser.add_argument(
        "--revocations",
        default=",".join(map(str, REVOCATION_SIZES)),
        help="revocation set sizes, increasing, a,b,...",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes of the plain proxy and the gateway (flatness runs use one)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result = gateway(
        args.duration,
        map_sizes=tuple(int(x) for x in args.map_sizes.split(",")),
        revocation_sizes=tuple(int(x) for x in args.revocations.split(",")),
        workers=args.workers,
    )
    print(result.report())
    print()
    for key, met in result.targets.items():
        print(f"{'MET' if met else 'MISSED':<7} gateway  {TARGET_DESCRIPTIONS[key]}")
    print(json.dumps(asdict(result)["ratios"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
