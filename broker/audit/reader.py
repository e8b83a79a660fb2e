"""Reading the audit log back: query, tail, and verification of every chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from broker.audit.chain import ChainReport, EventFields, StoredEvent, verify_chain
from broker.store.tables import AuditChain, AuditEvent

_events = AuditEvent.__table__  # type: ignore[attr-defined]
_chains = AuditChain.__table__  # type: ignore[attr-defined]
BATCH = 2000


@dataclass(frozen=True)
class AuditQuery:
    type: str | None = None
    actor: str | None = None
    subject: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100


def query_events(conn: Connection, q: AuditQuery) -> list[dict[str, Any]]:
    """Newest first."""
    stmt = select(_events).order_by(_events.c.at.desc(), _events.c.id.desc()).limit(q.limit)
    for column, value in (
        (_events.c.type, q.type),
        (_events.c.actor, q.actor),
        (_events.c.subject, q.subject),
        (_events.c.outcome, q.outcome),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if q.since is not None:
        stmt = stmt.where(_events.c.at >= q.since)
    if q.until is not None:
        stmt = stmt.where(_events.c.at < q.until)
    return [
        {
            "chain": r.chain_id,
            "seq": r.seq,
            "at": r.at,
            "type": r.type,
            "actor": r.actor,
            "subject": r.subject,
            "outcome": r.outcome,
            "reason": r.reason,
            "data": json.loads(r.data),
            "hash": r.hash,
        }
        for r in conn.execute(stmt)
    ]


def _stream(conn: Connection, chain_id: str) -> Iterator[StoredEvent]:
    after = 0
    while True:
        rows = conn.execute(
            select(_events)
            .where(_events.c.chain_id == chain_id, _events.c.seq > after)
            .order_by(_events.c.seq)
            .limit(BATCH)
        ).all()
        for r in rows:
            yield StoredEvent(
                EventFields(
                    chain_id=r.chain_id,
                    seq=r.seq,
                    at=r.at,
                    type=r.type,
                    actor=r.actor,
                    subject=r.subject,
                    outcome=r.outcome,
                    reason=r.reason,
                    data=r.data,
                    prev_hash=r.prev_hash,
                ),
                r.hash,
            )
        if len(rows) < BATCH:
            return
        after = rows[-1].seq


def verify_all(conn: Connection) -> list[ChainReport]:
    """Verify each chain, then the cross-chain anchors each chain recorded when it opened."""
    chains = conn.execute(select(_chains).order_by(_chains.c.created_at)).all()
    reports = {
        c.id: verify_chain(
            c.id, c.writer, _stream(conn, c.id), head_seq=c.head_seq, head_hash=c.head_hash
        )
        for c in chains
    }
    orphans = conn.execute(
        select(_events.c.chain_id).where(_events.c.chain_id.not_in(list(reports))).limit(1)
    ).first()
    if orphans is not None:
        lost = ChainReport(orphans.chain_id, "?")
        lost.fail(0, "events belong to a chain whose record is missing")
        reports[orphans.chain_id] = lost
    for report in list(reports.values()):
        for anchor in report.anchors:
            target = reports.get(str(anchor.get("chain")))
            if target is None:
                missing = ChainReport(str(anchor.get("chain")), "?")
                missing.fail(0, f"chain anchored by {report.chain_id} is missing")
                reports[missing.chain_id] = missing
                continue
            row = conn.execute(
                select(_events.c.hash).where(
                    _events.c.chain_id == target.chain_id, _events.c.seq == anchor.get("seq")
                )
            ).first()
            if row is None or row.hash != anchor.get("hash"):
                target.fail(
                    int(anchor.get("seq", 0)),
                    f"event {anchor.get('seq')} differs from what chain {report.chain_id} anchored",
                )
    return list(reports.values())
