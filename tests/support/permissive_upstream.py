"""A lenient upstream, over real sockets, that acts on what real frameworks would let through.

The echo upstream (echo_upstream.py) sits behind uvicorn, which is strict about framing
and names. This one reads the bytes itself and is as lenient as common stacks are:

- a method override wins: the headers ``X-HTTP-Method-Override``, ``X-HTTP-Method``,
  ``X-Method-Override``, or ``_method`` in the query, a form body or a JSON body;
- header names are read in any case with ``_`` as ``-`` (as CGI/WSGI stacks do);
- JSON keys are matched case-insensitively, the last duplicate winning;
- a body cut short (fewer bytes than its Content-Length, or chunks without the last one)
  is accepted as complete.

Every request is recorded twice over: exactly what arrived (``raw``, and whether its
framing was complete) and what it was *understood* to be (``effective_method``,
``effective_headers``, the leniently parsed JSON). With a ``relay`` base URL it passes the
understood request on (method, path, query, the body with GraphQL's own keys put back in
their spelling), so a strict provider behind it executes what a lenient one would;
otherwise it answers itself:

- ``/echo-key``: the ``X-Api-Key`` value it received, in every encoding of ``ENCODINGS``,
  as ``x-echo-<encoding>`` headers and in a JSON body (the escaped forms written as is);
- anything else: a JSON report of what it understood.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import socketserver
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from tests.support.echo_upstream import KEY_HEADER
from tests.support.servers import HOST, StopsOnExit

OVERRIDE_HEADERS = ("x-http-method-override", "x-http-method", "x-method-override")
OVERRIDE_FIELD = "_method"
GRAPHQL_KEYS = {k.lower(): k for k in ("query", "variables", "operationName", "extensions")}
HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})
MAX_HEAD = 64 * 1024
Headers = list[tuple[str, str]]


def _b64(raw: bytes, *, url: bool = False, pad: bool = True, skip: int = 0) -> bytes:
    """base64 of ``raw`` behind ``skip`` bytes of a prefix (another alignment), as a
    ``user:key`` Basic credential puts it."""
    encoded = (base64.urlsafe_b64encode if url else base64.b64encode)(b"u:"[:skip] + raw)
    return encoded if pad else encoded.rstrip(b"=")


def _percent(raw: bytes, hexcase: Callable[[str], str]) -> bytes:
    return "".join(hexcase(f"%{b:02x}") for b in raw).encode()


def _json_escaped(raw: bytes, hexcase: Callable[[str], str]) -> bytes:
    return "".join(hexcase(f"\\u{b:04x}").replace("\\U", "\\u") for b in raw).encode()


# How a framework may echo a value back: each is an encoding the redactor must catch.
ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda raw: raw,
    "base64": _b64,
    "base64-nopad": lambda raw: _b64(raw, pad=False),
    "base64url": lambda raw: _b64(raw, url=True),
    "base64url-nopad": lambda raw: _b64(raw, url=True, pad=False),
    "base64-offset-1": lambda raw: _b64(raw, skip=1),
    "base64-offset-2": lambda raw: _b64(raw, skip=2),
    "base64url-offset-1": lambda raw: _b64(raw, url=True, pad=False, skip=1),
    "percent-upper": lambda raw: _percent(raw, str.upper),
    "percent-lower": lambda raw: _percent(raw, str.lower),
    "percent-reserved": lambda raw: quote(raw, safe="").encode(),
    "json-u-lower": lambda raw: _json_escaped(raw, str.lower),
    "json-u-upper": lambda raw: _json_escaped(raw, str.upper),
    "json-slash": lambda raw: raw.replace(b"/", b"\\/"),
    "json-mixed": lambda raw: raw[:3] + _json_escaped(raw[3:6], str.lower) + raw[6:],
}


def _pairs_last_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a lenient decoder reads it: keys folded to lower case, last wins."""
    return {k.lower(): v for k, v in pairs}


def lenient_json(body: bytes) -> Any:
    """The body as a case-insensitive, last-duplicate-wins decoder reads it (None if it
    does not parse even so)."""
    try:
        return json.loads(body.decode("utf-8", "replace"), object_pairs_hook=_pairs_last_wins)
    except ValueError:
        return None


@dataclass
class Received:
    """One request: exactly what arrived, and what a lenient framework understood."""

    raw: bytes = field(repr=False)
    method: str
    target: str
    headers: Headers
    body: bytes = field(repr=False)
    complete: bool  # the framing arrived whole (its Content-Length, or its last chunk)
    effective_method: str = ""
    effective_headers: Headers = field(default_factory=list)
    override: str | None = None  # where an honoured method override came from
    json: Any = None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        """A header as the lenient framework reads it (any case, ``_`` as ``-``)."""
        wanted = _fold(name)
        values = [v for k, v in self.effective_headers if k == wanted]
        return values[-1] if values else None


def _fold(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def understand(received: Received) -> Received:
    """Fill in what a lenient framework makes of ``received`` (pure)."""
    received.effective_headers = [(_fold(k), v) for k, v in received.headers]
    content_type = (received.header("content-type") or "").lower()
    if "json" in content_type or received.body[:1] in (b"{", b"["):
        received.json = lenient_json(received.body)
    form = parse_qsl(received.body.decode("latin-1")) if "form" in content_type else []
    query = parse_qsl(urlsplit(received.target).query)
    candidates: list[tuple[str, str | None]] = [(h, received.header(h)) for h in OVERRIDE_HEADERS]
    candidates.append(("query", _field(query)))
    candidates.append(("form", _field(form)))
    if isinstance(received.json, dict):
        value = received.json.get(OVERRIDE_FIELD)
        candidates.append(("json", value if isinstance(value, str) else None))
    source, method = next(((s, m) for s, m in candidates if m), (None, None))
    received.override = source
    received.effective_method = (method or received.method).strip().upper()
    return received


def _field(pairs: Sequence[tuple[str, str]]) -> str | None:
    values = [v for k, v in pairs if k.lower() == OVERRIDE_FIELD]
    return values[-1] if values else None


def read_request(conn: socket.socket) -> Received | None:
    """Read one request off ``conn`` leniently; None when nothing (or no head) came."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
        chunk = _recv(conn)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, *_ = [*lines[0].split(" "), "", ""]
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    folded = {_fold(k): v for k, v in headers}
    if "chunked" in folded.get("transfer-encoding", "").lower():
        body, complete, raw_body = _read_chunked(conn, rest)
    else:
        length = folded.get("content-length", "0").strip()
        body, complete = _read_length(conn, rest, int(length) if length.isdigit() else 0)
        raw_body = body
    received = Received(head + b"\r\n\r\n" + raw_body, method, target, headers, body, complete)
    return understand(received)


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(65536)
    except (ConnectionResetError, TimeoutError):
        return b""


def _read_length(conn: socket.socket, data: bytes, length: int) -> tuple[bytes, bool]:
    while len(data) < length:
        chunk = _recv(conn)
        if not chunk:
            return data, False  # cut short: taken as it is
        data += chunk
    return data[:length], True


def _read_chunked(conn: socket.socket, data: bytes) -> tuple[bytes, bool, bytes]:
    """The chunks' payload, whether the last chunk came, and the raw bytes read."""
    raw = data
    body = b""
    while True:
        while b"\r\n" not in data:
            chunk = _recv(conn)
            if not chunk:
                return body, False, raw
            data += chunk
            raw += chunk
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        while len(data) < size + 2:
            chunk = _recv(conn)
            if not chunk:
                return body + data[:size], False, raw
            data += chunk
            raw += chunk
        if size == 0:
            return body, True, raw
        body, data = body + data[:size], data[size + 2 :]


def echo_key_response(received: Received) -> tuple[Headers, bytes]:
    """The received key in every encoding, in headers and in a JSON body."""
    key = (received.header(KEY_HEADER.decode()) or "").encode("latin-1")
    forms = {name: encode(key) for name, encode in ENCODINGS.items()}
    headers = [(f"x-echo-{name}", value.decode("latin-1")) for name, value in forms.items()]
    body = b"{" + b", ".join(b'"%s": "%s"' % (n.encode(), v) for n, v in forms.items()) + b"}"
    return headers, body


def report(received: Received) -> bytes:
    return json.dumps(
        {
            "method": received.method,
            "effective_method": received.effective_method,
            "override": received.override,
            "path": received.path,
            "body_length": len(received.body),
            "complete": received.complete,
        }
    ).encode()


class PermissiveUpstream(StopsOnExit):
    """``with PermissiveUpstream().start() as up: ... up.url ... up.received()``."""

    def __init__(self, relay: str = "") -> None:
        self.relay = relay.rstrip("/")
        self._log: list[Received] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                upstream._serve(self.request)

        self._server = socketserver.ThreadingTCPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> PermissiveUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        received = read_request(conn)
        if received is None:
            return
        with self._lock:
            self._log.append(received)
        if self.relay:
            status, headers, body = self._relayed(received)
        elif received.path == "/echo-key":
            status, (headers, body) = 200, echo_key_response(received)
        else:
            status, headers, body = 200, [("content-type", "application/json")], report(received)
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        with contextlib.suppress(OSError):  # the gateway gave up; what arrived is recorded
            conn.sendall(head.encode("latin-1") + body)

    def _relayed(self, received: Received) -> tuple[int, Headers, bytes]:
        """Pass the understood request to the strict provider behind, and its answer back."""
        body = received.body
        if isinstance(received.json, dict):
            understood = {GRAPHQL_KEYS.get(k, k): v for k, v in received.json.items()}
            body = json.dumps(understood).encode()
        headers = {k: v for k, v in received.headers if _fold(k) not in HOP}
        parts = urlsplit(self.relay)
        conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=10)
        try:
            conn.request(received.effective_method, received.target, body=body, headers=headers)
            answer = conn.getresponse()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP]
            return answer.status, kept, answer.read()
        finally:
            conn.close()
