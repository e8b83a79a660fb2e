"""A small HTTPS server on loopback with a CA of its own (not capbroker's), standing in for
a host an operator lets through the proxy untouched; it keeps every request it saw."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

from broker.clock import system_clock
from broker.gateway.proxy.ca import issue_leaf, new_ca, server_context
from tests.support.servers import HOST

STANDIN_HOST = "localhost"  # what the CONNECT names (a passthrough entry with its port)


class TlsStandIn:
    def __init__(self, ca_file: Path) -> None:
        ca = new_ca(system_clock)
        ca_file.write_text(ca.pem())
        self.ca_file = ca_file
        self.seen: list[dict[str, Any]] = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({"path": self.path, "headers": dict(self.headers.items())})
                body = json.dumps({"standin": True}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        context = server_context(ca, *issue_leaf(ca, STANDIN_HOST, system_clock))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TlsStandIn:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
