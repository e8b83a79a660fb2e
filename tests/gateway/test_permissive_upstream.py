"""The permissive upstream is as lenient as it claims: sent to directly (no gateway), it
honours every override spelling, folds header names, reads JSON keys in any case and takes
a truncated body whole. The corpus relies on this; if it were strict, a case could pass
only because the upstream ignored the attack."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.gateway.gateway_support import chunked, raw_request
from tests.support.permissive_upstream import PermissiveUpstream, Received


@pytest.fixture(scope="module")
def upstream() -> Iterator[PermissiveUpstream]:
    with PermissiveUpstream().start() as server:
        yield server


def _send(
    upstream: PermissiveUpstream, target: str, headers: list[tuple[str, str]], body: bytes = b""
) -> Received:
    upstream.clear()
    framing = [("Content-Length", str(len(body)))] if body else []
    raw_request(upstream.url, "POST", target, [*headers, *framing], body)
    [received] = upstream.received()
    return received


@pytest.mark.parametrize(
    ("target", "headers", "body", "source"),
    [
        ("/items", [("X-HTTP-Method-Override", "DELETE")], b"", "x-http-method-override"),
        ("/items", [("x_http_method", "delete")], b"", "x-http-method"),
        ("/items", [("X-METHOD-OVERRIDE", "DELETE")], b"", "x-method-override"),
        ("/items?_method=DELETE", [], b"", "query"),
        (
            "/items",
            [("Content-Type", "application/x-www-form-urlencoded")],
            b"a=1&_method=DELETE",
            "form",
        ),
        ("/items", [("Content-Type", "application/json")], b'{"_METHOD": "DELETE"}', "json"),
    ],
    ids=["header", "underscored-header", "upper-case-header", "query", "form", "json"],
)
def test_it_honours_every_method_override(
    upstream: PermissiveUpstream,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source: str,
) -> None:
    seen = _send(upstream, target, headers, body)
    assert (seen.method, seen.effective_method, seen.override) == ("POST", "DELETE", source)


def test_it_reads_header_names_and_json_leniently(upstream: PermissiveUpstream) -> None:
    body = b'{"name": "a", "NAME": "b", "Environment": "production"}'
    seen = _send(upstream, "/items", [("Content_TYPE", "application/json")], body)
    assert seen.header("content-type") == "application/json"
    assert seen.json == {"name": "b", "environment": "production"}
    assert seen.raw.endswith(body)  # and what arrived is kept byte for byte


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_it_takes_a_truncated_body_as_complete(upstream: PermissiveUpstream, framing: str) -> None:
    upstream.clear()
    parts = urlsplit(upstream.url)
    head = "PUT /upload/x HTTP/1.1\r\nHost: x\r\n"
    head += "Transfer-Encoding: chunked\r\n" if framing == "chunked" else "Content-Length: 100\r\n"
    sent = b"".join(chunked(b"0123456789")[:-1]) if framing == "chunked" else b"0123456789"
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"\r\n" + sent)
        sock.shutdown(socket.SHUT_WR)  # hang up mid-body
        answer = sock.recv(65536)
    assert b" 200 " in answer.split(b"\r\n")[0]  # it answered as if all was well
    report = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert (report["body_length"], report["complete"]) == (10, False)
    [seen] = upstream.received()
    assert (seen.body, seen.complete) == (b"0123456789", False)
