"""Server processes for the tests: free ports and the one start/stop lifecycle.

Every helper that runs a server as a child process (the broker and the gateway through the
``capbroker`` command, the demo provider, PostgreSQL, OpenBao) starts it with
``ServerProcess.start``: output to a log file, then a bounded wait until a readiness probe
says yes (failing early if the process exits). ``stop`` works on that PID: the polite
signal, a bounded wait, SIGKILL, another bounded wait. Nothing here imports beyond the
standard library, so benchmarks can use it too.
"""

from __future__ import annotations

import abc
import contextlib
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.02

Probe = Callable[[], bool]


class ServerNotReady(RuntimeError):
    """The server process exited, or did not answer its readiness probe in time."""


def free_port(host: str = HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_ready(
    url: str,
    *,
    statuses: Sequence[int] = (200,),
    context: Callable[[], ssl.SSLContext] | None = None,
) -> Probe:
    """A probe: does ``url`` answer one of ``statuses`` now? (``context`` is built per try:
    a CA file may appear before it is complete.)"""

    def probe() -> bool:
        try:
            tls = context() if context is not None else None
            with urllib.request.urlopen(url, timeout=1, context=tls) as response:
                return int(response.status) in statuses
        except urllib.error.HTTPError as exc:
            return int(exc.code) in statuses
        except (OSError, urllib.error.URLError):  # ssl.SSLError is an OSError
            return False

    return probe


class StopsOnExit(abc.ABC):
    """``with server: ...`` stops the server at the end of the block."""

    @abc.abstractmethod
    def stop(self) -> object: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class ServerProcess(StopsOnExit):
    """One server child process, its log file, and how it is told to stop."""

    argv: list[str]
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path
    stop_signal: signal.Signals = signal.SIGTERM
    errors_log: Path | None = None  # stderr, when kept apart from the log

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        *,
        ready: Probe,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout_s: float = READY_TIMEOUT_S,
        stop_signal: signal.Signals = signal.SIGTERM,
        errors_log: Path | None = None,
        **popen: Any,
    ) -> ServerProcess:
        """Start ``argv`` (output appended to ``log``, stderr too unless ``errors_log``) and
        wait until ``ready()``; stopped again if it never gets there. ``popen`` passes e.g.
        ``user=`` through."""
        with contextlib.ExitStack() as files:
            out = files.enter_context(log.open("ab"))
            err = files.enter_context(errors_log.open("ab")) if errors_log else subprocess.STDOUT
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=None if env is None else dict(env),
                cwd=cwd,
                **popen,
            )
        server = cls(list(argv), process, log, stop_signal, errors_log)
        try:
            server.wait_ready(ready, timeout_s=timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, ready: Probe, *, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.running():
                raise ServerNotReady(
                    f"{self.name} exited with {self.process.returncode}\n{self.log_tail()}"
                )
            if ready():
                return
            if time.monotonic() > deadline:
                raise ServerNotReady(
                    f"{self.name} not ready after {timeout_s:.0f}s\n{self.log_tail()}"
                )
            time.sleep(POLL_S)

    def stop(self, *, timeout_s: float = STOP_TIMEOUT_S, sig: signal.Signals | None = None) -> int:
        """Signal the PID (``stop_signal`` unless ``sig``), wait (bounded), then SIGKILL and
        wait again. Idempotent; returns the exit status."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig or self.stop_signal)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        return int(self.process.returncode)

    def kill(self) -> int:
        """Stop at once with SIGKILL (a crash, or a server with nothing to flush)."""
        return self.stop(sig=signal.SIGKILL)

    def output(self) -> str:
        return _read(self.log)

    def errors(self) -> str:
        """What went to stderr (empty unless it was kept apart with ``errors_log``)."""
        return _read(self.errors_log) if self.errors_log else ""

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines)


class ServerInDirectory(StopsOnExit):
    """A server (PostgreSQL, OpenBao) whose process and files live in a private temporary
    directory: ``stop`` is idempotent, stops the process and removes the directory."""

    stop_timeout_s = STOP_TIMEOUT_S

    def __init__(self, base: Path) -> None:
        self.base = base
        self._process: ServerProcess | None = None
        self._stopped = False

    def started(self, start: Callable[[], None]) -> Self:
        """Run ``start``; if it fails in any way, stop and clean up before re-raising."""
        try:
            start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self._before_stop()
            if self._process is not None:
                self._process.stop(timeout_s=self.stop_timeout_s)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _before_stop(self) -> None:
        """Hook: what to close before the process is told to stop."""


def log_tail(log: Path, lines: int = 30) -> str:
    """The last ``lines`` of a server log, for an error message."""
    text = _read(log)
    if not text:
        return "(no server log)"
    return "server log:\n" + "\n".join(text.splitlines()[-lines:])


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
