"""Run the provider on a loopback port in a background thread (tests, ``capbroker demo``).

The socket is bound before the server starts (port 0 picks a free one, with no race), and
readiness is awaited with a deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"


class ServerThread:
    """``with ServerThread(app) as server: ... server.url ...``; stops on exit."""

    def __init__(
        self, app: Any, *, port: int = 0, ready_timeout: float = 10.0, http: Any = "auto"
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, port))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._ready_timeout = ready_timeout
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", log_config=None, http=http
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"demo-provider-{self.port}",
            daemon=True,
        )

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + self._ready_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"demo provider did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
