"""The forward proxy next to path mode, in one run, in front of one fast upstream (issue 16).

One ``capbroker gateway serve --port P --proxy-port Q`` (one worker) fronts the bench
upstream (``benchmarks.proxy_upstream``) with the bench route map of
``benchmarks.gateway_proxy``; its provider names the host ``api.bench.test``. The same
load generator (asyncio + httptools, ``--connections`` keep-alive connections, each
sending ``GET /items/1`` as fast as answers come) measures:

- ``direct``: the upstream itself;
- ``path``: path mode, ``GET /bench/items/1`` with the token as Bearer;
- ``proxy``: warm tunnels: each connection CONNECTs once (token as Basic proxy password),
  does TLS with the proxy's leaf certificate (verified against ``gateway ca``), then
  sends ``GET /items/1`` with ``Host: api.bench.test``;
- ``new tunnel``: the time from opening a TCP connection to the first answer through a
  fresh tunnel (CONNECT, TLS handshake with the cached leaf, one request), sequentially.

Rows alternate for ``--rounds`` rounds and each keeps its best. Reported: requests per
second, p50 latency, the proxy's throughput as a share of path mode's (aim: at least 85%)
and its added p50. The load generator runs in this process and shares the machine's
cores with the servers, as the other gateway scenarios do.

Run: ``python -m benchmarks.gateway_tunnel --duration 5 --connections 8``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import ssl
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httptools

from benchmarks.gateway_proxy import PROVIDER, REPO_ROOT, GatewayStack, python_server
from benchmarks.harness import HOST, ServerProcess
from tests.support.servers import free_port

BENCH_HOST = "api.bench.test"
AIM_RATIO = 0.85


def request_bytes(path: str, host: str, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode()


class Answers:
    """Counts complete responses parsed from a stream (httptools, like uvicorn)."""

    def __init__(self) -> None:
        self.done = 0
        self.parser = httptools.HttpResponseParser(self)

    def on_message_complete(self) -> None:
        self.done += 1


async def one_answer(reader: asyncio.StreamReader, answers: Answers) -> None:
    goal = answers.done + 1
    while answers.done < goal:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("closed")
        answers.parser.feed_data(data)


async def open_tunnel(
    proxy_port: int, token: str, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, proxy_port)
    basic = base64.b64encode(f"capbroker:{token}".encode()).decode()
    writer.write(
        f"CONNECT {BENCH_HOST}:443 HTTP/1.1\r\nHost: {BENCH_HOST}:443\r\n"
        f"Proxy-Authorization: Basic {basic}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.decode("latin-1"))
    await writer.start_tls(context, server_hostname=BENCH_HOST)
    return reader, writer


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def load(
    connect: Callable[[], Awaitable[Streams]], request: bytes, connections: int, duration: float
) -> tuple[float, float]:
    """(requests per second, p50 ms) over ``connections`` keep-alive connections."""
    latencies: list[float] = []
    stop = time.perf_counter() + duration

    async def worker() -> None:
        reader, writer = await connect()
        answers = Answers()
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            await one_answer(reader, answers)
            latencies.append(time.perf_counter() - started)
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


async def new_tunnel_ms(proxy_port: int, token: str, context: ssl.SSLContext, n: int) -> float:
    times = []
    request = request_bytes("/items/1", BENCH_HOST, None)
    for _ in range(n):
        started = time.perf_counter()
        reader, writer = await open_tunnel(proxy_port, token, context)
        writer.write(request)
        await one_answer(reader, Answers())
        times.append(time.perf_counter() - started)
        writer.close()
    return statistics.median(times) * 1000


@contextlib.contextmanager
def gateway_with_proxy(stack: GatewayStack) -> Iterator[tuple[int, int]]:
    providers = stack.providers_file(10)
    doc = json.loads(providers.read_text())
    doc["providers"][0]["hosts"] = [BENCH_HOST]
    providers.write_text(json.dumps(doc))
    port, proxy_port = free_port(), free_port()
    argv = [*stack._argv(), "gateway", "serve", "--providers", str(providers)]
    argv += ["--port", str(port), "--proxy-port", str(proxy_port)]
    with ServerProcess.start(
        argv, ready_url=f"http://{HOST}:{port}/readyz", env=stack.env, cwd=REPO_ROOT
    ):
        yield port, proxy_port


async def measure(args: argparse.Namespace, stack: GatewayStack, upstream: str) -> None:
    with gateway_with_proxy(stack) as (port, proxy_port):
        ca = Path(stack.work / "ca.pem")
        ca.write_text(stack.cli("gateway", "ca"))
        context = ssl.create_default_context(cafile=str(ca))
        up_port = int(upstream.rsplit(":", 1)[1])
        rows: dict[str, tuple[Callable[[], Awaitable[Streams]], bytes]] = {
            "direct": (
                lambda: asyncio.open_connection(HOST, up_port),
                request_bytes("/items/1", HOST, None),
            ),
            "path": (
                lambda: asyncio.open_connection(HOST, port),
                request_bytes(f"/{PROVIDER}/items/1", HOST, stack.token),
            ),
            "proxy": (
                lambda: open_tunnel(proxy_port, stack.token, context),
                request_bytes("/items/1", BENCH_HOST, None),
            ),
        }
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.rounds):
            for name, (connect, request) in rows.items():
                rps, p50 = await load(connect, request, args.connections, args.duration)
                if rps > best.get(name, (0.0, 0.0))[0]:
                    best[name] = (rps, p50)
        fresh = await new_tunnel_ms(proxy_port, stack.token, context, 50)
    for name, (rps, p50) in best.items():
        print(f"{name:>10}: {rps:8.0f} req/s  p50 {p50:6.2f} ms")
    ratio = best["proxy"][0] / best["path"][0]
    added = best["proxy"][1] - best["path"][1]
    verdict = "met" if ratio >= AIM_RATIO else "MISSED"
    print(
        f"proxy/path throughput {ratio:.0%} (aim >= {AIM_RATIO:.0%}: {verdict});"
        f" added p50 {added:+.2f} ms"
    )
    print(f"new tunnel (CONNECT + TLS with a cached leaf + one request): p50 {fresh:.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with python_server("benchmarks.proxy_upstream") as (upstream, _):
        stack = GatewayStack(upstream)
        try:
            stack.start()
            asyncio.run(measure(args, stack, upstream))
        finally:
            stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
