"""Run the loopback benchmarks: ``python -m benchmarks [--duration 5] [--only NAME]``.

Every scenario starts its own server, warms it up for a second, loads it with
wrk for ``--duration`` seconds at 32 connections, and stops it. Ratios are to
the bare Litestar ``GET /ping`` measured in the same run (these machines are
shared and noisy: compare ratios, not absolute numbers across runs). Results
are printed as a table and written to ``benchmarks/results/latest.json``.

To add a scenario, append a ``Scenario`` to ``SCENARIOS``: a name and a
callable taking the duration in seconds and returning a ``LoadResult``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    BenchmarkError,
    LoadResult,
    ServerProcess,
    ensure_wrk,
    free_port,
    run_wrk,
    warm_up,
)
from benchmarks.openbao_tokens import token_create

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "litestar-ping"


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[float], LoadResult]  # duration in seconds -> measured load
    description: str = ""


@contextmanager
def baseline_server() -> Iterator[str]:
    """The bare Litestar app in a subprocess; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ServerProcess.start(
        [sys.executable, "-m", "benchmarks.baseline_app", "--port", str(port)],
        ready_url=f"{base}/ping",
        cwd=REPO_ROOT,
    ):
        yield base


def litestar_ping(duration_s: float) -> LoadResult:
    with baseline_server() as base:
        warm_up(f"{base}/ping")
        return run_wrk(f"{base}/ping", duration_s=duration_s)


ECHO_BODY = json.dumps({"template": "staging-volumes", "ttl": 600, "verbs": ["volume:read"]})


def litestar_echo(duration_s: float) -> LoadResult:
    kwargs: dict[str, Any] = {
        "method": "POST",
        "body": ECHO_BODY,
        "headers": {"Content-Type": "application/json"},
    }
    with baseline_server() as base:
        warm_up(f"{base}/echo", **kwargs)
        return run_wrk(f"{base}/echo", duration_s=duration_s, **kwargs)


# The lead extends this list with the broker's own endpoints.
SCENARIOS: list[Scenario] = [
    Scenario(REFERENCE, litestar_ping, "bare Litestar GET /ping (reference)"),
    Scenario("litestar-echo", litestar_echo, "bare Litestar POST /echo with a small JSON body"),
    Scenario(
        "openbao-token-create",
        token_create,
        "OpenBao POST /v1/auth/token/create, root token, raft storage on disk",
    ),
]


def _wrk_version() -> str:
    proc = subprocess.run(
        [ensure_wrk(), "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    return (proc.stdout or proc.stderr).splitlines()[0] if (proc.stdout or proc.stderr) else ""


def _table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'scenario':<28} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7} {'errors':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "n/a"
        lines.append(
            f"{row['name']:<28} {row['requests_per_s']:>10.0f} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {ratio:>7} {row['errors'] + row['non_2xx']:>7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only NAME (repeatable); {REFERENCE} always runs as the reference",
    )
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    args = parser.parse_args(argv)

    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:<28} {scenario.description}")
        return 0
    names = {s.name for s in SCENARIOS}
    unknown = set(args.only or ()) - names
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; known: {sorted(names)}")
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only or s.name == REFERENCE]

    ensure_wrk()
    results: dict[str, LoadResult] = {}
    failures: dict[str, str] = {}
    for scenario in chosen:
        print(f"running {scenario.name} ({args.duration:g}s) ...", file=sys.stderr, flush=True)
        try:
            results[scenario.name] = scenario.run(args.duration)
        except BenchmarkError as exc:
            failures[scenario.name] = str(exc)
            print(f"FAILED {scenario.name}: {exc}", file=sys.stderr, flush=True)

    reference = results.get(REFERENCE)
    rows = [
        {
            "name": name,
            **result.as_dict(),
            "ratio": (
                result.requests_per_s / reference.requests_per_s
                if reference and reference.requests_per_s
                else None
            ),
        }
        for name, result in results.items()
    ]
    print(_table(rows))
    report = {
        "generated_unix": int(time.time()),
        "reference": REFERENCE,
        "duration_s": args.duration,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wrk": _wrk_version(),
        },
        "results": rows,
        "failures": failures,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "latest.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
