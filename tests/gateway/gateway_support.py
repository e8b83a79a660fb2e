"""Helpers for the gateway's attack tests: a raw HTTP/1.1 client (bytes exactly as written,
so no client library tidies a path or a header away), problem+json checks, and an upstream
log reader that tells the agent's fields from the gateway's own look-ups."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from broker.audit.reader import AuditQuery, query_events, verify_all
from tests.support.stack import Stack

# Root fields the gateway itself asks the demo provider for (the route map's look-ups).
LOOKUP_FIELDS = frozenset({"volume", "environment", "deployment", "projects"})
# Every code a gateway refusal may carry (broker.errors.Reason values the gateway uses).
CONTRACT_CODES = frozenset(
    {
        "invalid_request",
        "body_too_large",
        "unsupported_media_type",
        "token_invalid",
        "token_expired",
        "token_revoked",
        "audience_mismatch",
        "verb_not_granted",
        "environment_not_granted",
        "environment_unresolved",
        "resource_not_granted",
        "forbidden_verb",
        "budget_exhausted",
        "approval_required",
        "approval_denied",
        "unknown_route",
        "upstream_unavailable",
        "database_unavailable",
        "audit_unavailable",
        "secret_backend_unavailable",
    }
)


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    base_url: str,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | Iterable[bytes] = b"",
    *,
    connection: str = "close",
    timeout: float = 10.0,
) -> RawResponse:
    """Send one request exactly as given (``Connection: {connection}`` is added; it must say
    ``close``, the read ends when the server closes) and read the answer.

    ``target`` is written to the request line byte for byte (latin-1). A ``body`` given as
    an iterable is written piece by piece, as the caller framed it (chunked or not).
    """
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    for name, value in headers:
        head += f"{name}: {value}\r\n"
    head += f"Connection: {connection}\r\n\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        pieces = [body] if isinstance(body, bytes) else body
        try:
            for piece in pieces:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed; read what it said
        return _read_response(sock)


def exchange(base_url: str, data: bytes, *, timeout: float = 10.0) -> RawResponse:
    """Write ``data`` (a whole request, as the caller framed it: no header is added) and
    read the answer until the server closes the connection."""
    parts = urlsplit(base_url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        return _read_response(sock)


def _read_response(sock: socket.socket) -> RawResponse:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before the response head: {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    while True:  # read to the end (the server closes: we sent Connection: close)
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        rest += chunk
    encoding = next((v for k, v in headers if k.lower() == "transfer-encoding"), "")
    body = _dechunk(rest) if "chunked" in encoding.lower() else rest
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    if length is not None:
        body = body[: int(length)]
    return RawResponse(status, headers, body)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


def chunked(*pieces: bytes) -> list[bytes]:
    """A chunked transfer encoding of ``pieces`` (one chunk each), with the final chunk."""
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p] + [b"0\r\n\r\n"]


def assert_problem(
    status: int, headers: Sequence[tuple[str, str]], body: bytes, *, expect_status: int, code: str
) -> dict[str, Any]:
    """A problem+json answer with the given status and contract code; returns the body."""
    media = next((v for k, v in headers if k.lower() == "content-type"), None)
    assert media == "application/problem+json", (status, media, body[:300])
    problem: dict[str, Any] = json.loads(body)
    assert problem["code"] in CONTRACT_CODES, problem
    assert (status, problem["code"]) == (expect_status, code), problem
    assert problem["status"] == status
    assert problem["type"].endswith("/" + problem["code"])
    return problem


def agent_fields_executed(log: Sequence[dict[str, Any]]) -> list[str]:
    """Root fields the provider executed other than the gateway's own look-ups.

    A look-up is a single-operation query whose fields are all look-up fields; anything
    else that executed is the agent's.
    """
    executed: list[str] = []
    for entry in log:
        for op in entry["operations"]:
            if not op["executed"]:
                continue
            fields = op["root_fields"]
            is_lookup = (
                entry["method"] == "POST"
                and op["type"] == "query"
                and len(entry["operations"]) == 1
                and entry["batch_size"] is None
                and set(fields) <= LOOKUP_FIELDS
                and len(fields) == 1
            )
            if not is_lookup:
                executed.extend(fields)
    return executed


def gateway_trail(stack: Stack, jti: str) -> list[dict[str, Any]]:
    """The gateway's events about one token, oldest first; the chain must verify."""
    with stack.services.db.read() as conn:
        events = query_events(conn, AuditQuery(limit=1000))
        assert all(r.ok for r in verify_all(conn))

    def about_token(e: dict[str, Any]) -> bool:
        if e["type"] == "gateway.completed":
            return any(c["jti"] == jti for c in e["data"]["calls"])
        return e["type"].startswith("gateway.") and e["data"].get("jti") == jti

    return [e for e in events if about_token(e)][::-1]
