"""What lookups cost an agent session on Railway's real shapes (issue 13's benchmark).

The Railway replica (``broker.demo.railway``) runs as its own process and answers every
GraphQL request after ``--delay-ms`` (50 ms by default, like a real API across the
internet); the gateway runs with the shipped ``railway`` map in front of it, with a real
broker store for tokens, on loopback sockets in this process. Each session is one
agent's day in miniature, with a fresh token: reads, writes, and the incident's
destructive call (refused after the gateway walks the projects to find the volume's
environments).

Every allowed call is also sent straight to the replica with the master key, in the same
run, as the baseline. A first session warms both up and is not reported. Reported:

- upstream round trips per agent call: lookups the gateway made (what the replica
  logged, minus the calls it forwarded), per call, overall and per kind of call;
- the added latency of a call through the gateway over the direct call (median), for
  calls that needed no lookup (the gateway's own time) and for those that did;
- the gateway's own added time as a share of one provider call (the aim: under 1 %
  of a 50 ms call).

Aims (issue 13): reads add no lookup once the relations they need are cached; a typical
session averages at most one lookup round trip per call; the gateway's own added time
stays under 1 % of a 50 ms provider call. A missed aim is reported, not fatal.

Run: ``python -m benchmarks.railway_session --sessions 10 --delay-ms 50``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from broker.demo.railway import IDS
from broker.demo.railway.service import GRAPHQL_PATH
from broker.demo.world import (
    RAILWAY,
    RAILWAY_STAGING,
    provider_route,
    railway_demo_seed,
    serve_gateway,
)
from broker.domain.grants import GrantRequest
from broker.services.container import Services
from tests.support.servers import ServerProcess, free_port, http_ready
from tests.support.world import broker_settings, seeded_world

RESULTS = Path(__file__).with_name("results") / "railway_session.json"


@dataclass(frozen=True)
class AgentCall:
    kind: str  # read | write | destructive
    title: str
    query: str
    variables: dict[str, Any]
    allowed: bool = True  # the gateway forwards it (so the direct baseline may run it too)


def session_calls() -> list[AgentCall]:
    ids = IDS
    env = {"e": ids.shop_staging, "s": ids.api}
    upsert = {
        "i": {
            "projectId": ids.shop,
            "environmentId": ids.shop_staging,
            "serviceId": ids.api,
            "name": "LOG_LEVEL",
            "value": "debug",
        }
    }
    deployments = (
        "query($e: String!, $s: String!) { deployments(first: 5, input: "
        "{environmentId: $e, serviceId: $s}) { edges { node { id status } } } }"
    )
    variables = (
        "query($e: String!, $s: String!) { variables(projectId: "
        f'"{ids.shop}", environmentId: $e, serviceId: $s) }}'
    )
    return [
        AgentCall(
            "read", "project", "query($id: String!) { project(id: $id) { name } }", {"id": ids.shop}
        ),
        AgentCall("read", "deployments", deployments, env),
        AgentCall("read", "variables", variables, env),
        AgentCall("read", "deployments again", deployments, env),
        AgentCall(
            "write",
            "variableUpsert",
            "mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }",
            upsert,
        ),
        AgentCall("read", "variables again", variables, env),
        AgentCall(
            "write",
            "variableUpsert again",
            "mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }",
            upsert,
        ),
        AgentCall(
            "destructive",
            "volumeDelete (the incident: refused)",
            "mutation($v: String!) { volumeDelete(volumeId: $v) }",
            {"v": ids.shared_volume},
            allowed=False,
        ),
    ]


@dataclass
class Sample:
    call: AgentCall
    gateway_ms: float
    direct_ms: float | None
    lookups: int
    status: int


@dataclass
class Report:
    delay_ms: float
    sessions: int
    samples: list[Sample] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        calls = len(self.samples)
        lookups = sum(s.lookups for s in self.samples)
        by_kind: dict[str, list[Sample]] = {}
        for s in self.samples:
            by_kind.setdefault(s.call.kind, []).append(s)
        warm_reads = [s for s in self.samples if s.call.kind == "read" and "again" in s.call.title]
        no_lookup = [s for s in self.samples if s.lookups == 0 and s.direct_ms is not None]
        with_lookup = [s for s in self.samples if s.lookups > 0 and s.direct_ms is not None]

        def added(group: list[Sample]) -> float | None:
            diffs = [s.gateway_ms - s.direct_ms for s in group if s.direct_ms is not None]
            return round(statistics.median(diffs), 3) if diffs else None

        own = added(no_lookup)
        return {
            "delay_ms": self.delay_ms,
            "sessions": self.sessions,
            "agent_calls": calls,
            "lookup_round_trips": lookups,
            "round_trips_per_call": round(lookups / calls, 3) if calls else 0,
            "round_trips_per_call_by_kind": {
                k: round(sum(s.lookups for s in v) / len(v), 3) for k, v in by_kind.items()
            },
            "warm_read_round_trips": sum(s.lookups for s in warm_reads),
            "added_ms_median_no_lookup": own,
            "added_ms_median_with_lookup": added(with_lookup),
            "own_share_of_provider_call": (
                round(own / self.delay_ms, 4) if own is not None and self.delay_ms else None
            ),
            "aims": {
                "reads add no lookup once cached": sum(s.lookups for s in warm_reads) == 0,
                "at most one lookup round trip per call": calls > 0 and lookups / calls <= 1.0,
                "gateway's own time under 1% of the provider call": (
                    own is not None and self.delay_ms > 0 and own / self.delay_ms < 0.01
                ),
            },
        }


def _post(
    client: httpx.Client, url: str, headers: dict[str, str], call: AgentCall
) -> tuple[int, float]:
    started = time.perf_counter()
    r = client.post(url, json={"query": call.query, "variables": call.variables}, headers=headers)
    return r.status_code, (time.perf_counter() - started) * 1000


@dataclass
class Bench:
    """The broker store, the gateway (threads in this process) and the replica process."""

    services: Services
    agent: str = field(repr=False)
    gateway_url: str
    replica_url: str
    master_key: str = field(repr=False)
    admin_token: str = field(repr=False)

    def token(self) -> str:
        request = GrantRequest("shop-staging-agent", RAILWAY_STAGING)
        return self.services.issuance.issue(self.agent, request).access_token

    def _admin(self, method: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.request(method, f"{self.replica_url}{path}", headers=headers, timeout=10)

    def reset(self) -> None:
        self._admin("POST", "/_demo/reset").raise_for_status()

    def seen(self) -> int:
        return len(self._admin("GET", "/_demo/requests").json()["requests"])


@contextlib.contextmanager
def bench(tmp: Path, delay_ms: float) -> Iterator[Bench]:
    master_key, admin_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    (tmp / "admin-token").write_text(admin_token)
    port = free_port()
    argv = [
        sys.executable, "-m", "broker.demo.railway", "--port", str(port),
        "--key-env", "RAILWAY_KEY", "--admin-token-file", str(tmp / "admin-token"),
        "--delay-ms", str(delay_ms),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RAILWAY_KEY": master_key}
    with ServerProcess.start(
        argv, ready=http_ready(f"{url}/healthz"), log=tmp / "replica.log", env=env
    ):
        world = seeded_world(
            broker_settings(tmp, f"sqlite:///{tmp}/capbroker.db"), railway_demo_seed(master_key)
        )
        services = world.services
        routes = {RAILWAY: provider_route(RAILWAY, url)}
        gateway, server = serve_gateway(
            services.settings, routes, jwks=services.keys.jwks, poll_interval=0.2
        )
        try:
            yield Bench(
                services, world.credential("claude-code"), server.url, url, master_key,
                admin_token,
            )  # fmt: skip
        finally:
            server.stop()
            gateway.store.db.engine.dispose()
            services.close()


def run(b: Bench, sessions: int, delay_ms: float) -> Report:
    report = Report(delay_ms, sessions)
    gateway_url = f"{b.gateway_url}/{RAILWAY}{GRAPHQL_PATH}"
    direct_url = f"{b.replica_url}{GRAPHQL_PATH}"
    direct_headers = {"Authorization": f"Bearer {b.master_key}"}
    with httpx.Client(timeout=30) as client:
        for session in range(sessions + 1):  # session 0 warms up and is not reported
            b.reset()  # the same starting state for every session
            headers = {"Authorization": f"Bearer {b.token()}"}
            for call in session_calls():
                before = b.seen()
                status, gateway_ms = _post(client, gateway_url, headers, call)
                seen = b.seen() - before
                forwarded = 1 if status == 200 else 0
                direct_ms = None
                if call.allowed:
                    _, direct_ms = _post(client, direct_url, direct_headers, call)
                expected = 200 if call.allowed else 403
                if status != expected:
                    raise RuntimeError(f"{call.title}: HTTP {status}, expected {expected}")
                if session > 0:
                    sample = Sample(call, gateway_ms, direct_ms, seen - forwarded, status)
                    report.samples.append(sample)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="capbroker-bench-") as tmp,
        bench(Path(tmp), args.delay_ms) as b,
    ):
        report = run(b, args.sessions, args.delay_ms)
    summary = report.summary()
    per_call: dict[str, list[int]] = {}
    for s in report.samples:
        per_call.setdefault(s.call.title, []).append(s.lookups)
    summary["round_trips_by_call"] = {k: round(statistics.mean(v), 2) for k, v in per_call.items()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
