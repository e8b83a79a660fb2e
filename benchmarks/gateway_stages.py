"""Where the gateway's extra cost goes: the plain proxy and the gateway in one process.

A diagnostic, not a target: it tells what each stage of the gateway costs over the plain
proxy, which the wrk comparison (``gateway_proxy.py``) cannot separate. Both ASGI apps
run in this process, on one uvloop event loop, against the same upstream process
(``proxy_upstream``), fed requests directly (no server-side HTTP parsing, which both
would pay alike), ``--concurrency`` at a time. Per round, each variant's CPU time per
request is measured back to back, in turn:

- ``plain``: ``benchmarks.plain_proxy.PlainProxy``;
- ``forward-only``: the gateway's header filtering, routing, canonical form, body
  handling and forwarding (key injection, echo redaction), and nothing else;
- ``no-audit``: the whole pipeline, but decisions and completions are neither written
  nor committed;
- ``gateway``: the real thing (the decision written through group commit first).

The variants are the gateway's own pipeline with stages left out (the module patches
them for one round at a time); ``gateway`` is unpatched. The differences between
neighbours are what a stage costs. A fixed pure-Python workload is timed around every
round so a reader can tell a slow minute from a slow stage (``refs``).

Run: ``python -m benchmarks.gateway_stages --concurrency 32`` (and ``--concurrency 1``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from benchmarks.gateway_proxy import GRAPHQL, PROVIDER, REST, GatewayStack, python_server
from benchmarks.inprocess import (
    App,
    Scope,
    cpu_us_per_request,
    reference_us,
    request_scope,
    started_gateway,
)
from benchmarks.plain_proxy import PlainProxy
from broker.audit.writer import AuditRecord, AuditWriter
from broker.gateway.app import Gateway
from broker.gateway.framing import canonicalise, read_body
from broker.gateway.headers import outbound_headers
from broker.gateway.outcome import Attempt, Outcome
from broker.gateway.pipeline import Pipeline
from broker.gateway.recording import Recorder
from broker.gateway.request import GatewayRequest
from broker.gateway.route import find_route
from broker.store.database import Tx
from broker.workers import tune_gc

VARIANTS = ("plain", "forward-only", "no-audit", "gateway")


class Stages:
    """Leaves stages out of one gateway for a round: ``with stages.variant(name): ...``."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._reader = gateway.store.db.engine.connect()  # for no-audit units: reads only

    def close(self) -> None:
        self._reader.close()

    def variant(self, name: str) -> ExitStack:
        patches = ExitStack()
        if name == "forward-only":
            _patch(patches, Pipeline, "run", _forward_only)
            _patch(patches, Recorder, "completed", lambda *_: None)
        elif name == "no-audit":
            tx = Tx(self._reader)

            async def run_unwritten(unit: Callable[[Tx], Any]) -> Any:
                return unit(tx)

            def not_appended(self: AuditWriter, _tx: Tx, **_: Any) -> AuditRecord:
                return AuditRecord("", 0, "")

            _patch(patches, self.gateway.store.committer, "run", run_unwritten)
            _patch(patches, Recorder, "completed", lambda *_: None)
            _patch(patches, AuditWriter, "append", not_appended)
        return patches


def _patch(patches: ExitStack, owner: Any, name: str, value: Any) -> None:
    original = getattr(owner, name)
    setattr(owner, name, value)
    patches.callback(setattr, owner, name, original)


async def _forward_only(self: Pipeline, request: GatewayRequest) -> Outcome:
    attempt = Attempt(request.method, request.target, started=time.perf_counter())
    route, rest = find_route(self.providers, request.target)
    outbound = outbound_headers(request.headers, route.route_map.headers)
    canonical = canonicalise(request.method, rest, request.query, request.headers, route.route_map)
    body, stream, _ = await read_body(route.route_map, canonical, request.headers, request.body)
    await self.forwarder.master_keys.load(route.master_key)  # cached after the first
    return self.forwarder.prepare(route, canonical, outbound, body, stream, attempt)


async def _measure(stack: GatewayStack, upstream: str, args: argparse.Namespace) -> None:
    gateway = await started_gateway(stack)
    plain = PlainProxy(upstream)
    await plain.client.start()
    stages = Stages(gateway)
    kind = GRAPHQL if args.kind == "graphql" else REST
    plain_scope, body = request_scope(kind.path, kind, stack.token)
    gateway_scope, _ = request_scope(f"/{PROVIDER}{kind.path}", kind, stack.token)
    apps: dict[str, tuple[App, Scope]] = {
        name: (plain, plain_scope) if name == "plain" else (gateway, gateway_scope)
        for name in VARIANTS
    }
    try:
        tune_gc()
        for name, (app, scope) in apps.items():  # warm-up
            with stages.variant(name):
                await cpu_us_per_request(app, scope, body, 300, args.concurrency)
        us: dict[str, list[float]] = {name: [] for name in VARIANTS}
        refs: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.rounds):
            for name, (app, scope) in apps.items():
                with stages.variant(name):
                    before = reference_us()
                    cost = await cpu_us_per_request(
                        app, scope, body, args.requests, args.concurrency
                    )
                    reference = (before + reference_us()) / 2
                us[name].append(cost)
                refs[name].append(cost / reference)
        _report(us, refs, args)
    finally:
        stages.close()
        await plain.client.close()
        await gateway.stop()


def _report(us: dict[str, list[float]], refs: dict[str, list[float]], ns: Any) -> None:
    print(
        f"{ns.kind}, {ns.concurrency} at a time, {ns.rounds} rounds of {ns.requests} requests;"
        " CPU time of this process per request (median of rounds)"
    )
    print(f"{'variant':<14} {'us':>8} {'refs':>7} {'over the previous':>18}")
    previous: str | None = None
    for name in VARIANTS:
        extra = ""
        if previous is not None:
            # Per round, then the median: both ran in the same minute.
            deltas = [a - b for a, b in zip(us[name], us[previous], strict=True)]
            extra = f"{statistics.median(deltas):+.1f} us"
        print(
            f"{name:<14} {statistics.median(us[name]):8.1f} "
            f"{statistics.median(refs[name]):7.2f} {extra:>18}"
        )
        previous = name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kind", choices=("rest", "graphql"), default="rest")
    args = parser.parse_args(argv)
    import uvloop

    with python_server("benchmarks.proxy_upstream") as (upstream, _):
        stack = GatewayStack(upstream)
        try:
            stack.start()
            uvloop.run(_measure(stack, upstream, args))
        finally:
            stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
