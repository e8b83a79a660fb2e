"""Appends events to this process's own chain inside the caller's transaction.

Events are hashed as they are appended (the chain order is the append order) and
written in one batch just before the transaction commits, with a single update of the
chain head: a transaction shared by many requests (group commit) pays for the head once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from broker.audit.chain import EventFields, canonical_json, event_hash, genesis_hash
from broker.audit.redact import redact_text
from broker.clock import Clock
from broker.errors import Reason, Unavailable
from broker.store.database import Tx
from broker.store.raw import RawStatement
from broker.store.tables import AuditChain

_chains = AuditChain.__table__  # type: ignore[attr-defined]
MAX_ANCHORS = 64
_INSERT_EVENT = RawStatement(
    "INSERT INTO audit_events (chain_id, seq, at, type, actor, subject, outcome, reason, data,"
    " prev_hash, hash) VALUES (:chain_id, :seq, :at, :type, :actor, :subject, :outcome,"
    " :reason, :data, :prev_hash, :hash)"
)
_ADVANCE_HEAD = RawStatement(
    "UPDATE audit_chains SET head_seq = :seq, head_hash = :hash"
    " WHERE id = :chain AND head_seq = :prev_seq"
)
_OPEN_CHAIN = RawStatement(
    "INSERT INTO audit_chains (id, writer, created_at, head_seq, head_hash)"
    " VALUES (:id, :writer, :created_at, 0, :head_hash)"
)


@dataclass(frozen=True)
class AuditRecord:
    chain_id: str
    seq: int
    hash: str


class AuditWriter:
    """One writer per process. Its chain's head is kept in memory and advanced only on commit.

    The lock is held from the first append in a transaction until that transaction ends,
    so two threads never race for the same next sequence number.
    """

    def __init__(self, *, writer: str, clock: Clock) -> None:
        self.writer = writer
        self.clock = clock
        self.chain_id = uuid.uuid4().hex
        self._lock = threading.RLock()
        self._opened = False
        self._seq = 0
        self._hash = genesis_hash(self.chain_id)
        # Per open transaction: the head it started from and its events not yet written.
        self._pending: dict[int, tuple[int, list[dict[str, Any]]]] = {}

    def append(
        self,
        tx: Tx,
        *,
        type: str,
        actor: str,
        subject: str = "",
        outcome: str = "ok",
        reason: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        if id(tx) not in self._pending:
            self._lock.acquire()
            state = (self._opened, self._seq, self._hash)
            self._pending[id(tx)] = (self._seq, [])
            tx.before_commit(lambda: self._flush(tx))
            tx.on_end(lambda: self._release(tx, state))
        if not self._opened:
            self._open(tx)
        return self._hash_event(tx, type, actor, subject, outcome, reason, data or {})

    def _release(self, tx: Tx, state: tuple[bool, int, str]) -> None:
        # Called for commit and rollback alike; after a rollback the head goes back.
        if not tx.committed:
            self._opened, self._seq, self._hash = state
        del self._pending[id(tx)]
        self._lock.release()

    def _open(self, tx: Tx) -> None:
        rows = tx.conn.execute(
            select(_chains.c.id, _chains.c.head_seq, _chains.c.head_hash)
            .where(_chains.c.head_seq > 0)
            .order_by(_chains.c.created_at.desc())
            .limit(MAX_ANCHORS)
        ).all()
        _OPEN_CHAIN.execute(
            tx.conn,
            {
                "id": self.chain_id,
                "writer": self.writer,
                "created_at": self.clock(),
                "head_hash": self._hash,
            },
        )
        self._opened = True
        anchors = [{"chain": r.id, "seq": r.head_seq, "hash": r.head_hash} for r in rows]
        self._hash_event(
            tx,
            "audit.chain_opened",
            self.writer,
            self.chain_id,
            "ok",
            "",
            {"writer": self.writer, "anchors": anchors},
        )

    def _hash_event(
        self,
        tx: Tx,
        type: str,
        actor: str,
        subject: str,
        outcome: str,
        reason: str,
        data: Mapping[str, Any],
    ) -> AuditRecord:
        fields = EventFields(
            chain_id=self.chain_id,
            seq=self._seq + 1,
            at=self.clock(),
            type=type,
            actor=redact_text(actor),
            subject=redact_text(subject),
            outcome=outcome,
            reason=reason,
            data=redact_text(canonical_json(data if isinstance(data, dict) else dict(data))),
            prev_hash=self._hash,
        )
        digest = event_hash(fields)
        row = fields._asdict()
        row["hash"] = digest
        self._pending[id(tx)][1].append(row)
        self._seq, self._hash = fields.seq, digest
        return AuditRecord(self.chain_id, fields.seq, digest)

    def _flush(self, tx: Tx) -> None:
        start_seq, events = self._pending[id(tx)]
        if not events:
            return
        _INSERT_EVENT.execute_many(tx.conn, events)
        moved = _ADVANCE_HEAD.execute(
            tx.conn,
            {"chain": self.chain_id, "prev_seq": start_seq, "seq": self._seq, "hash": self._hash},
        )
        if moved != 1:
            raise Unavailable(
                "the audit chain head moved underneath this writer",
                reason=Reason.AUDIT_UNAVAILABLE,
            )
        events.clear()
