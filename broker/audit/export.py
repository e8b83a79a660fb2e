"""Streaming the audit trail out (to a SIEM): every event once, in chain order, resumable.

Each process writes its own chain and holds its chain's lock from its first append to its
commit, so within a chain events become visible in ``seq`` order. A cursor per chain (the
last ``seq`` exported) therefore finds every event exactly once: nothing committed later
can appear behind it. The checkpoint file holds those cursors; it is replaced atomically
after each batch has been written out, so a clean stop resumes with no gap and no repeat
(after a hard kill, at most the last batch is written again; ``chain`` and ``seq`` name
each event, so a consumer can drop repeats).
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, select

from broker.errors import InvalidRequest
from broker.store.tables import AuditChain, AuditEvent

_events = AuditEvent.__table__  # type: ignore[attr-defined]
_chains = AuditChain.__table__  # type: ignore[attr-defined]
BATCH: Final = 1000
_RELATIVE = re.compile(r"([0-9]{1,6})([smhd])")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
CHECKPOINT_VERSION: Final = 1


def parse_since(text: str, *, now: float) -> float:
    """``--since``: an ISO 8601 time with its offset (``2026-12-01T00:00:00Z``), seconds
    since the epoch, or a time ago (``90s``, ``15m``, ``2h``, ``7d``)."""
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - int(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        return float(text) if text.replace(".", "", 1).isdigit() else _iso(text)
    except ValueError:
        raise InvalidRequest(
            f"--since {text!r}: use an ISO 8601 time with its offset, epoch seconds,"
            " or a time ago such as 15m, 2h or 7d"
        ) from None


def _iso(text: str) -> float:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment.timestamp()


@dataclass
class Checkpoint:
    """Where the export stands: the last exported ``seq`` of each chain."""

    since: float = 0.0
    cursors: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None, *, since: float) -> Checkpoint:
        """The saved checkpoint (its own ``since`` wins: resuming never re-reads), or a
        new one from ``since``."""
        if path is None or not path.exists():
            return cls(since=since)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("version") != CHECKPOINT_VERSION:
                raise ValueError("version")
            cursors = {str(k): int(v) for k, v in dict(doc["chains"]).items()}
            return cls(since=float(doc["since"]), cursors=cursors)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidRequest(
                f"checkpoint {path}: not a checkpoint this command wrote; move it away to"
                " start again from --since"
            ) from None

    def save(self, path: Path) -> None:
        """Replace the file atomically (a crash leaves the old one or the new one)."""
        doc = {"version": CHECKPOINT_VERSION, "since": self.since, "chains": self.cursors}
        temporary = path.with_name(f".{path.name}.tmp")
        with temporary.open("w", encoding="utf-8") as out:
            json.dump(doc, out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)


def _event(row: Any, writer: str) -> dict[str, Any]:
    return {
        "chain": row.chain_id,
        "writer": writer,
        "seq": row.seq,
        "at": row.at,
        "time": datetime.fromtimestamp(row.at, tz=UTC).isoformat(),
        "type": row.type,
        "actor": row.actor,
        "subject": row.subject,
        "outcome": row.outcome,
        "reason": row.reason,
        "data": json.loads(row.data),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def read_batch(
    conn: Connection, checkpoint: Checkpoint, limit: int = BATCH
) -> list[dict[str, Any]]:
    """The next events after the checkpoint's cursors, up to ``limit`` per chain, merged by
    time (each chain's own order kept). A chain not seen before starts at ``since``."""
    per_chain: list[list[dict[str, Any]]] = []
    for chain in conn.execute(select(_chains.c.id, _chains.c.writer).order_by(_chains.c.id)):
        after = checkpoint.cursors.get(chain.id)
        stmt = select(_events).where(_events.c.chain_id == chain.id)
        if after is None:
            stmt = stmt.where(_events.c.at >= checkpoint.since)
        else:
            stmt = stmt.where(_events.c.seq > after)
        rows = conn.execute(stmt.order_by(_events.c.seq).limit(limit)).all()
        if rows:
            per_chain.append([_event(r, chain.writer) for r in rows])
    return list(heapq.merge(*per_chain, key=lambda e: e["at"]))


def export(
    read: Callable[[Checkpoint], list[dict[str, Any]]],
    checkpoint: Checkpoint,
    write: Callable[[list[dict[str, Any]]], None],
    *,
    save: Callable[[Checkpoint], None],
    follow: bool,
    wait: Callable[[], bool],
    stopped: Callable[[], bool],
) -> int:
    """Write batches until caught up (with ``follow``: until ``wait`` returns False), or
    until ``stopped``; the checkpoint advances, and is saved, only after a batch has been
    written. Returns how many events were written."""
    total = 0
    while not stopped():
        batch = read(checkpoint)
        if batch:
            write(batch)
            for event in batch:
                checkpoint.cursors[event["chain"]] = event["seq"]
            save(checkpoint)
            total += len(batch)
        elif not follow or not wait():
            break
    return total


def jsonl(events: list[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        yield json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n"
