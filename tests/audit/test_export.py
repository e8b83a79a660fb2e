"""`capbroker audit export`: the audit trail as JSON lines on a real store (SQLite and
PostgreSQL), each event with its chain position; --follow picks up new events; a stop and
a resume from the checkpoint leave no gap and no repeat."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from broker.audit.export import Checkpoint, export, parse_since, read_batch
from broker.audit.reader import verify_all
from broker.audit.writer import AuditWriter
from broker.clock import FrozenClock, system_clock
from broker.errors import InvalidRequest
from broker.store import migrate
from broker.store.database import Database
from broker.store.engine import make_engine
from tests.support.processes import CAPBROKER, cli


def write(db: Database, writer: AuditWriter, n: int, prefix: str) -> None:
    for i in range(n):
        with db.transaction() as tx:
            writer.append(tx, type=f"{prefix}.{i}", actor="tester", data={"i": i})


def all_positions(db: Database) -> list[tuple[str, int]]:
    with db.read() as conn:
        rows = conn.execute(text("SELECT chain_id, seq FROM audit_events ORDER BY chain_id, seq"))
        return [(r.chain_id, r.seq) for r in rows]


def positions(events: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["chain"], e["seq"]) for e in events]


def assert_contiguous(events: list[dict[str, Any]]) -> None:
    """Each chain's events in seq order, none missing, none twice, each linked to the last."""
    last: dict[str, dict[str, Any]] = {}
    for event in events:
        before = last.get(event["chain"])
        if before is not None:
            assert event["seq"] == before["seq"] + 1, (before["seq"], event["seq"])
            assert event["prev_hash"] == before["hash"]
        last[event["chain"]] = event


def test_batches_resume_from_the_checkpoint_across_writers(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(1000.0)
    a, b = AuditWriter(writer="a", clock=clock), AuditWriter(writer="b", clock=clock)
    write(db, a, 3, "a")
    write(db, b, 2, "b")
    saved = tmp_path / "cp.json"
    out: list[dict[str, Any]] = []

    def read(at: Checkpoint) -> list[dict[str, Any]]:
        with db.read() as conn:
            return read_batch(conn, at, limit=2)  # small batches: several rounds

    def run() -> int:
        return export(
            read,
            Checkpoint.load(saved, since=0),
            out.extend,
            save=lambda c: c.save(saved),
            follow=False,
            wait=lambda: False,
            stopped=lambda: False,
        )

    assert run() == 7  # two chains, each opened by an audit.chain_opened event
    write(db, a, 2, "a2")
    write(db, AuditWriter(writer="c", clock=clock), 1, "c")  # a chain new since the last run
    assert run() == 4
    assert sorted(positions(out)) == all_positions(db)
    assert len(set(positions(out))) == len(out)
    assert_contiguous(out)
    assert json.loads(saved.read_text())["chains"][a.chain_id] == 6
    with db.read() as conn:
        assert all(r.ok for r in verify_all(conn))


def test_since_skips_what_came_before(db: Database) -> None:
    clock = FrozenClock(1000.0)
    writer = AuditWriter(writer="a", clock=clock)
    write(db, writer, 2, "old")
    clock.advance(100)
    write(db, writer, 2, "new")
    with db.read() as conn:
        events = read_batch(conn, Checkpoint(since=1050.0))
    assert [e["type"] for e in events] == ["new.0", "new.1"]
    assert events[0]["seq"] == 4  # its true chain position
    assert events[0]["time"].startswith("1970-01-01T00:18:20")


def test_since_forms_and_a_bad_checkpoint(tmp_path: Path) -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("7d", now=1e6) == 1e6 - 7 * 86400
    assert parse_since("1700000000", now=0) == 1_700_000_000
    assert parse_since("2026-12-01T00:00:00Z", now=0) == 1796083200
    for bad in ("yesterday", "2026-12-01T00:00:00", "-5m"):
        with pytest.raises(InvalidRequest):
            parse_since(bad, now=0)
    broken = tmp_path / "cp.json"
    broken.write_text("{not json")
    with pytest.raises(InvalidRequest, match="not a checkpoint"):
        Checkpoint.load(broken, since=0)


def _read_lines(proc: subprocess.Popen[bytes], want: int, timeout_s: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    buffer = b""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while len(lines) < want and time.monotonic() < deadline:
        if not selector.select(timeout=0.2):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        lines += [c.decode() for c in complete]
    return lines


@pytest.mark.slow
def test_follow_picks_up_new_events_and_resumes_without_gaps_or_repeats(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    db = Database(engine)
    writer = AuditWriter(writer="test-writer", clock=system_clock)
    write(db, writer, 5, "first")
    checkpoint = tmp_path / "export.checkpoint"
    args = ["--database-url", database_url, "audit", "export", "--format", "jsonl"]
    args += ["--checkpoint", str(checkpoint)]

    once = cli(tmp_path / "d", *args)
    assert once.returncode == 0, once.stderr
    got = [json.loads(line) for line in once.stdout.splitlines()]
    assert [e["type"] for e in got] == ["audit.chain_opened"] + [f"first.{i}" for i in range(5)]
    assert {"chain", "seq", "prev_hash", "hash", "writer", "time"} <= set(got[0])

    follower = subprocess.Popen(
        [*CAPBROKER, "--data-dir", str(tmp_path / "d"), *args, "--follow", "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        write(db, writer, 3, "second")
        lines = _read_lines(follower, 3, timeout_s=20)
        assert [json.loads(x)["type"] for x in lines] == [f"second.{i}" for i in range(3)]
        got += [json.loads(x) for x in lines]
        follower.send_signal(signal.SIGTERM)  # a clean stop: the checkpoint is current
        assert follower.wait(timeout=20) == 0
        rest = follower.stdout.read().decode() if follower.stdout else ""
        got += [json.loads(x) for x in rest.splitlines()]
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        for stream in (follower.stdout, follower.stderr):
            if stream is not None:
                stream.close()

    write(db, writer, 2, "third")  # while nothing exports
    resumed = cli(tmp_path / "d", *args, "--since", "7d")  # the checkpoint wins over --since
    assert resumed.returncode == 0, resumed.stderr
    got += [json.loads(line) for line in resumed.stdout.splitlines()]

    assert sorted(positions(got)) == all_positions(db)
    assert len(set(positions(got))) == len(got)
    assert_contiguous(got)
    engine.dispose()
