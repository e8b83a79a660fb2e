"""Is the gateway's per-request cost flat in route-map size and revocation-set size?

The wrk rows in ``gateway_proxy.py`` answer this from separate server processes, and on
a shared machine the same configuration's CPU per request moves by 20% between rounds
of one run: a 10% target cannot be resolved that way. Here every configuration is a
gateway in this one process (built as ``gateway serve`` builds it, forwarding to the
real upstream, audit writes included), measured in short rounds that visit them in turn,
every other round backwards, so all see the same minutes of the machine. Per round, each
configuration's CPU time per request is divided by that round's first configuration's;
the median of those ratios per configuration is the verdict (target: within 10%).

Configurations: route maps of 10 .. 10,000 generated REST rules (one store); revocation
sets of 0 and 1,000,000 entries (copies of the store, filled as ``gateway_proxy`` does).
Server-side HTTP parsing is not included: it does not depend on either size.

Run: ``python -m benchmarks.gateway_flatness`` (about five minutes). The suite's
``gateway`` scenario (``benchmarks.gateway_proxy``) runs it too, for its flatness verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

import uvloop

from benchmarks.gateway_proxy import (
    MAP_SIZES,
    MAX_COST_SPREAD,
    PROVIDER,
    REST,
    REVOCATION_SIZES,
    GatewayStack,
    python_server,
)
from benchmarks.inprocess import (
    cpu_us_per_request,
    reference_us,
    request_scope,
    started_gateway,
)
from broker.gateway.app import Gateway
from broker.workers import tune_gc

ROUNDS = 12
REQUESTS = 1500  # per configuration per round
CONCURRENCY = 32


async def flatness(
    stack: GatewayStack,
    *,
    map_sizes: tuple[int, ...] = MAP_SIZES,
    revocation_sizes: tuple[int, ...] = REVOCATION_SIZES,
    rounds: int = ROUNDS,
    requests: int = REQUESTS,
    concurrency: int = CONCURRENCY,
) -> dict[str, Any]:
    """Per dimension and size: median CPU us per request and the median ratio to the
    first size (see the module docstring); the stack must be started."""
    clones = {}
    for size in revocation_sizes:  # before any gateway runs: this holds the loop a while
        clones[size] = stack.clone_data_dir()
        stack.add_revocations(clones[size] / "capbroker.db", size)
    dimensions: dict[str, list[tuple[int, Gateway]]] = {"rules": [], "revocations": []}
    for rules in map_sizes:
        dimensions["rules"].append((rules, await started_gateway(stack, rules)))
    for size, clone in clones.items():
        dimensions["revocations"].append((size, await started_gateway(stack, 10, clone)))
    # Loading a large set held the loop: let every gateway's revocation poll catch up
    # (a gateway whose revocations are stale refuses, fail closed).
    await asyncio.sleep(2.5)
    scope, body = request_scope(f"/{PROVIDER}{REST.path}", REST, stack.token)
    tune_gc()
    report: dict[str, Any] = {}
    try:
        for dimension, configs in dimensions.items():
            for _, gateway in configs:  # a whole round first, not recorded
                await cpu_us_per_request(gateway, scope, body, requests, concurrency)
            ratios: dict[int, list[float]] = {size: [] for size, _ in configs}
            costs: dict[int, list[float]] = {size: [] for size, _ in configs}
            for round_no in range(rounds):
                order = configs if round_no % 2 == 0 else configs[::-1]
                measured: dict[int, float] = {}
                for size, gateway in order:
                    measured[size] = await cpu_us_per_request(
                        gateway, scope, body, requests, concurrency
                    )
                first = measured[configs[0][0]]
                for size, cost in measured.items():
                    ratios[size].append(cost / first)
                    costs[size].append(cost)
            report[dimension] = {
                size: {
                    "cpu_us_median": statistics.median(costs[size]),
                    "vs_first_median": statistics.median(ratios[size]),
                    "vs_first_rounds": [round(r, 3) for r in ratios[size]],
                }
                for size, _ in configs
            }
    finally:
        for configs in dimensions.values():
            for _, gateway in configs:
                await gateway.stop()
    report["reference_us"] = reference_us()
    return report


def spreads(report: dict[str, Any]) -> dict[str, float]:
    """Per dimension: max/min of the sizes' median ratios to the first (target: 1.10)."""
    result = {}
    for dimension in ("rules", "revocations"):
        ratios = [row["vs_first_median"] for row in report[dimension].values()]
        result[dimension] = max(ratios) / min(ratios)
    return result


def _print(report: dict[str, Any], args: argparse.Namespace) -> bool:
    print(
        f"REST, {args.concurrency} at a time, {args.rounds} rounds of {args.requests} requests"
        " per configuration; CPU time of this process per request"
    )
    flat = True
    for dimension in ("rules", "revocations"):
        rows = report[dimension]
        print(f"{dimension:<12} {'cpu us (median)':>16} {'vs the first (median of rounds)':>33}")
        for size, row in rows.items():
            print(f"{size:<12,} {row['cpu_us_median']:16.1f} {row['vs_first_median']:33.3f}")
        spread = spreads(report)[dimension]
        met = spread <= MAX_COST_SPREAD
        flat &= met
        sizes = list(rows)
        print(
            f"{'MET' if met else 'MISSED':<7} cpu/req flat within {MAX_COST_SPREAD - 1:.0%},"
            f" {dimension} {sizes[0]:,} -> {sizes[-1]:,}: max/min {spread:.3f}\n"
        )
    return flat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument(
        "--requests", type=int, default=REQUESTS, help="per configuration per round"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument(
        "--map-sizes", type=lambda v: [int(x) for x in v.split(",")], default=list(MAP_SIZES)
    )
    parser.add_argument(
        "--revocations",
        type=lambda v: [int(x) for x in v.split(",")],
        default=list(REVOCATION_SIZES),
    )
    args = parser.parse_args(argv)
    with python_server("benchmarks.proxy_upstream") as (upstream, _):
        stack = GatewayStack(upstream)
        try:
            stack.start()
            report = uvloop.run(
                flatness(
                    stack,
                    map_sizes=tuple(args.map_sizes),
                    revocation_sizes=tuple(args.revocations),
                    rounds=args.rounds,
                    requests=args.requests,
                    concurrency=args.concurrency,
                )
            )
        finally:
            stack.close()
    _print(report, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
