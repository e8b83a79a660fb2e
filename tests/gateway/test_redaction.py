"""A master key an upstream echoes back never reaches the agent: not in a body, not in a
header, not split across two chunks, not inside a compressed body."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.stack import ECHO, Stack, build_stack

PROJECTS = "{ projects { id } }"


@pytest.fixture
def echoing_stack(tmp_path: Path) -> Iterator[Stack]:
    """The demo provider rejects the gateway's key and echoes it back in its 401 body."""
    yield from build_stack(tmp_path, f"sqlite:///{tmp_path}/capbroker.db", echo=True)


def test_a_rejected_key_echoed_in_a_401_is_redacted(echoing_stack: Stack) -> None:
    key = echoing_stack.master_key
    r = echoing_stack.call(echoing_stack.token(), PROJECTS)
    assert r.status_code == 401, r.text
    leaked = key in r.text or any(key in v for v in r.headers.values())
    assert not leaked, "the master key reached the agent"
    received = r.json()["errors"][0]["extensions"]["receivedAuthorization"]
    assert received == "Bearer " + "*" * len(key)
    assert int(r.headers["content-length"]) == len(r.content)
    log = echoing_stack.upstream_log()
    assert [(e["auth"], e["status"]) for e in log] == [("invalid", 401)]


@pytest.mark.parametrize("offset", [1, 16, 31], ids=["after-1", "middle", "before-last"])
def test_a_key_split_across_two_chunks_is_redacted(shared_stack: Stack, offset: int) -> None:
    """The echo upstream sends ``Token <key>`` with the chunk boundary inside the key."""
    key = shared_stack.echo_key
    split = len("Token ") + offset
    r = httpx.get(
        f"{shared_stack.url}/{ECHO}/leak/{split}",
        headers={"Authorization": f"Bearer {shared_stack.echo_token()}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.content == b"received: Token " + b"*" * len(key) + b" (end)"
    assert r.headers["x-echo-key"] == "got Token " + "*" * len(key)


def test_a_key_in_a_compressed_body_is_not_readable(shared_stack: Stack) -> None:
    """The agent asks for gzip; the provider compresses a body that echoes the key. The
    redactor only sees compressed bytes, so the key must never be compressed past it."""
    key = shared_stack.echo_key.encode()
    r = httpx.get(
        f"{shared_stack.url}/{ECHO}/leak-gzip",
        headers={
            "Authorization": f"Bearer {shared_stack.echo_token()}",
            "Accept-Encoding": "gzip",
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    plain = r.content  # httpx decodes Content-Encoding: gzip
    if plain[:2] == b"\x1f\x8b":  # and should anything be compressed twice
        plain = gzip.decompress(plain)
    leaked = key in plain  # (not in the assertion: a failure must not print the key)
    assert not leaked, "the master key reached the agent inside a compressed body"
    assert plain == b"received: Token " + b"*" * len(key)
