"""An upstream that misbehaves on request, over a real loopback socket (a thread per
connection), and notes when each connection of its own closes.

The query's ``q`` says how it answers (the echo map's ``GET /echo?q=...``):

- ``ok``: a small JSON answer at once.
- ``hang``: reads the request and never answers.
- ``drip``: headers at once (chunked), then one body byte every ``DRIP_S``.
- ``reset``: headers with a Content-Length of ``RESET_DECLARED``, ``RESET_SENT`` bytes of
  it, then a TCP reset (SO_LINGER 0).
- ``huge``: ``HUGE_BYTES`` as fast as the reader takes them, with a Content-Length.

``connections`` records each connection: when it opened, which ``q`` it was serving and
when the server saw the peer close it (``closed_at``), so a test checks at the upstream
that an abandoned call's connection was freed.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from tests.support.servers import HOST, StopsOnExit

DRIP_S = 0.05
RESET_DECLARED = 100_000
RESET_SENT = 1_000
HUGE_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass
class Connection:
    opened_at: float
    mode: str = ""
    closed_at: float | None = None


class FaultyUpstream(StopsOnExit):
    def __init__(self) -> None:
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve(self.request)

        self._server = socketserver.ThreadingTCPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultyUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def serving(self, mode: str) -> list[Connection]:
        with self._lock:
            return [c for c in self.connections if c.mode == mode]

    def _serve(self, conn: socket.socket) -> None:
        record = Connection(time.monotonic())
        with self._lock:
            self.connections.append(record)
        try:
            while not self._stopping.is_set():
                mode = _read_request(conn)
                if mode is None:
                    break
                record.mode = mode
                if not self._answer(conn, mode):
                    break
        except OSError:
            pass
        finally:
            record.closed_at = time.monotonic()
            conn.close()

    def _answer(self, conn: socket.socket, mode: str) -> bool:
        """Answer one request; False once the connection is done with."""
        if mode == "hang":
            _wait_for_close(conn, self._stopping)
            return False
        if mode == "drip":
            conn.sendall(_head("transfer-encoding: chunked"))
            while not self._stopping.wait(DRIP_S):
                conn.sendall(b"1\r\nx\r\n")
            return False
        if mode == "reset":
            conn.sendall(_head(f"content-length: {RESET_DECLARED}") + b"r" * RESET_SENT)
            time.sleep(0.1)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if mode == "huge":
            conn.sendall(_head(f"content-length: {HUGE_BYTES}"))
            chunk = b"h" * _CHUNK
            for _ in range(HUGE_BYTES // _CHUNK):
                conn.sendall(chunk)
            return True
        body = b'{"ok": true}'
        conn.sendall(_head(f"content-length: {len(body)}") + body)
        return True


def _head(framing: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\n\r\n".encode()


def _read_request(conn: socket.socket) -> str | None:
    """The ``q`` of the next request (its head only: these calls carry no body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return None
        data += piece
    target = data.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
    return parse_qs(urlsplit(target).query).get("q", ["ok"])[0]


def _wait_for_close(conn: socket.socket, stopping: threading.Event) -> None:
    conn.settimeout(0.02)
    while not stopping.is_set():
        try:
            if not conn.recv(1):
                return
        except TimeoutError:
            continue
