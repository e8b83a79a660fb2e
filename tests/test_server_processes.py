"""The one start/stop lifecycle for server processes (tests/support/servers.py)."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.support.servers import ServerNotReady, ServerProcess, free_port, http_ready

pytestmark = pytest.mark.slow

UP = "import sys; print('up', flush=True); print('to stderr', file=sys.stderr, flush=True); "


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def logged_up(log: Path) -> bool:
    return log.exists() and "up" in log.read_text()


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_an_http_server_is_ready_when_it_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess.start(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        ready=http_ready(f"http://127.0.0.1:{port}/"),
        log=tmp_path / "log",
        cwd=tmp_path,
    )
    assert server.running()
    assert http_ready(f"http://127.0.0.1:{port}/")()
    assert not http_ready(f"http://127.0.0.1:{port}/", statuses=(204,))()
    assert http_ready(f"http://127.0.0.1:{port}/missing", statuses=(404,))()
    assert server.stop() == -signal.SIGTERM
    assert not server.running()
    assert server.stop() == -signal.SIGTERM  # idempotent
    assert not http_ready(f"http://127.0.0.1:{port}/")()


def test_a_process_that_exits_is_reported_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(ServerNotReady, match=r"exited with 3(.|\n)*boom"):
        ServerProcess.start(
            python("print('boom', flush=True); raise SystemExit(3)"),
            ready=lambda: False,
            log=tmp_path / "log",
        )


def test_a_server_never_ready_is_stopped_within_the_deadline(tmp_path: Path) -> None:
    log = tmp_path / "log"
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    with pytest.raises(ServerNotReady, match="not ready after"):
        ServerProcess.start(python(code), ready=lambda: False, log=log, timeout_s=0.5)
    pid = int(log.read_text().split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped


def test_stop_escalates_to_sigkill_when_the_signal_is_ignored(tmp_path: Path) -> None:
    log = tmp_path / "log"
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + UP
    server = ServerProcess.start(
        python(code + "time.sleep(60)"), ready=lambda: logged_up(log), log=log
    )
    assert server.stop(timeout_s=0.5) == -signal.SIGKILL


def test_stop_signal_kill_and_stderr_kept_apart(tmp_path: Path) -> None:
    log = tmp_path / "log"
    code = "import time; " + UP + "time.sleep(60)"
    server = ServerProcess.start(
        python(code),
        ready=lambda: logged_up(log),
        log=log,
        errors_log=tmp_path / "err",
        stop_signal=signal.SIGINT,
    )
    assert server.output() == "up\n"
    assert server.errors() == "to stderr\n"
    assert server.stop() == -signal.SIGINT
    both = tmp_path / "both"
    other = ServerProcess.start(  # without errors_log, stderr goes to the log
        python(code), ready=lambda: both.exists() and "to stderr" in both.read_text(), log=both
    )
    assert other.kill() == -signal.SIGKILL
    assert other.output() == "up\nto stderr\n"
