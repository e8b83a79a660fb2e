"""A full disk under the embedded store: the broker and the gateway, as processes, keep
their data dir on a small tmpfs the test mounts; a filler file takes the last byte.

Safety: while full, no token is handed out and no call is forwarded (503 ``disk_full``);
what was committed before is intact (audit chains verify). Availability: the processes
say ``disk_full`` (one log line each, not one per request) and work again within a
second of the filler being deleted, without a restart.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.procstack import ProcStack, jti_of

pytestmark = pytest.mark.faults

TMPFS_MB = 16
RECOVERY_BOUND_S = 1.0  # the checkpointer's 0.25 s round, plus a request


@contextlib.contextmanager
def tmpfs(at: Path, size_mb: int) -> Iterator[Path]:
    at.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(at)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): {mounted.stderr}")
    try:
        yield at
    finally:
        subprocess.run(["umount", "-l", str(at)], check=False)


def fill(directory: Path) -> Path:
    """Take every free byte of ``directory``'s file system."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 512, 1):  # down to the last byte
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def _until(check: object, bound_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound_s:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"not within {bound_s} s")


def test_a_full_disk_says_disk_full_and_recovers_when_space_is_freed(tmp_path: Path) -> None:
    stack = ProcStack(tmp_path)
    with tmpfs(stack.data, TMPFS_MB):
        try:
            stack.start()
            client = httpx.Client()
            kept = stack.token()
            assert stack.call(kept).status_code == 200
            seen_before = len(stack.upstream_log())
            filler = fill(stack.data)

            # Writes first use the WAL's free pages, then refuse. A page freed now and then
            # (a WAL truncated after a checkpoint) may let one more through: still durable.
            answers = [stack.call(kept, client=client) for _ in range(300)]
            full = [a for a in answers if a.status_code != 200]
            assert len(full) >= 200, [a.status_code for a in answers]
            for a in full:
                assert a.status_code == 503, a.text[:200]
                assert a.headers["content-type"] == "application/problem+json"
                assert a.json()["code"] == "disk_full"
            # Nothing refused reached the provider: only the calls that got their 200.
            assert len(stack.upstream_log()) - seen_before == len(answers) - len(full)
            issued = [stack.issue(client) for _ in range(50)]
            refused = [a for a in issued if a.status_code == 503]
            assert refused, [a.status_code for a in issued]
            assert all(a.json()["code"] == "disk_full" for a in refused)
            assert all(a.status_code in (201, 503) for a in issued)

            filler.unlink()
            took = _until(
                lambda: stack.call(kept, client=client).status_code == 200, RECOVERY_BOUND_S
            )
            _until(lambda: stack.issue(client).status_code == 201, RECOVERY_BOUND_S)
            fresh = stack.token()
            assert stack.call(fresh).status_code == 200
            print(f"disk_full: {len(full)} calls refused, recovered {took:.3f} s after freeing")
            print(f"issuance while full: {len(refused)} of {len(issued)} refused")
        finally:
            stack.stop()
        log = (tmp_path / "log").read_text(errors="replace")
        assert "Traceback" not in log
        # One line per process when the disk filled, one when it had space again (again
        # if a freed page let a write through meanwhile), never one per request.
        full_lines = log.count("the database's disk is full: writes are refused")
        assert 2 <= full_lines <= 6, log[-3000:]
        assert full_lines == log.count("the database's disk has space again")
        assert stack.chains_intact() == []
        # Every token a client received has its row (those refused were never sent).
        received = {jti_of(r.json()["access_token"]) for r in issued if r.status_code == 201}
        assert received | {jti_of(kept), jti_of(fresh)} <= stack.token_rows()
