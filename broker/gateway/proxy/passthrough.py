"""Hosts the operator lets through the forward proxy untouched: tunnelled byte for byte,
never intercepted, no credential added; the CONNECT is still authenticated and audited.

They come from the providers file's ``proxy.passthrough`` (``host`` or ``host:port``, port
443 when none). A host a provider answers for can never be one: its calls must go through
the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from broker.errors import InvalidRequest
from broker.gateway.outcome import Attempt
from broker.gateway.proxy.checks import HTTPS_PORT, Authority
from broker.gateway.recording import Recorder
from broker.gateway.route import ProviderRoute

CONNECT_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 300.0  # a passthrough tunnel quiet this long in both directions ends
READ_BYTES = 65536


def parse_passthrough(
    entries: Iterable[str], providers: Mapping[str, ProviderRoute]
) -> frozenset[Authority]:
    """The entries (already checked by the schema) as authorities; a provider's host is
    refused, so no configuration can send a provider's calls around the pipeline."""
    named = {host for route in providers.values() for host in route.hosts}
    found: set[Authority] = set()
    for entry in entries:
        host, _, port = entry.partition(":")
        authority = Authority(host, int(port) if port else HTTPS_PORT)
        if host in named:
            raise InvalidRequest(f"proxy.passthrough: {host} is a provider's host")
        if not 0 < authority.port < 65536:
            raise InvalidRequest(f"proxy.passthrough: {entry}: no such port")
        found.add(authority)
    return frozenset(found)


def load_passthrough(path: Path, providers: Mapping[str, ProviderRoute]) -> frozenset[Authority]:
    """``proxy.passthrough`` of a providers file that ``load_providers`` already checked."""
    doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_passthrough((doc.get("proxy") or {}).get("passthrough", ()), providers)


async def record_passage(recorder: Recorder, attempt: Attempt, authority: Authority) -> None:
    """The allowed passthrough CONNECT, as a ``gateway.decision`` in the gateway's chain;
    written before a byte is tunnelled (an audit that fails refuses the tunnel)."""
    data = {
        **attempt.audit_data(),
        "decision": "allow",
        "passthrough": True,
        "detail": f"{authority} is tunnelled without interception and without credentials",
    }

    def write(tx: Any) -> None:
        recorder.store.audit.append(
            tx,
            type="gateway.decision",
            actor=attempt.actor,
            subject=f"passthrough:CONNECT {authority}",
            outcome="ok",
            reason="",
            data=data,
        )

    await recorder.store.committer.run(write)


async def open_upstream(
    authority: Authority,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        return await asyncio.open_connection(authority.host, authority.port)


async def splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Copy bytes both ways until either side ends, or neither sends anything for
    ``IDLE_TIMEOUT_S`` (a long download with nothing sent back is not idle)."""
    loop = asyncio.get_running_loop()
    last = [loop.time()]  # when either direction last carried bytes
    pumps = [
        asyncio.ensure_future(_pump(client[0], upstream[1], last)),
        asyncio.ensure_future(_pump(upstream[0], client[1], last)),
    ]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pump in pumps:
            pump.cancel()
        for pump in pumps:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
                await pump
        upstream[1].close()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, last: list[float]
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            async with asyncio.timeout(IDLE_TIMEOUT_S):
                data = await reader.read(READ_BYTES)
        except TimeoutError:
            if loop.time() - last[0] >= IDLE_TIMEOUT_S:
                return
            continue
        if not data:
            return
        last[0] = loop.time()
        writer.write(data)
        await writer.drain()
