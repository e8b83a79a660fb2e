"""Appends events to this process's own chain inside the caller's transaction."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from broker.audit.chain import EventFields, canonical_json, event_hash, genesis_hash
from broker.audit.redact import redact
from broker.clock import Clock
from broker.errors import Reason, Unavailable
from broker.store.database import Tx
from broker.store.tables import AuditChain, AuditEvent

_events = AuditEvent.__table__  # type: ignore[attr-defined]
_chains = AuditChain.__table__  # type: ignore[attr-defined]
MAX_ANCHORS = 64
# Built once: the hot path executes these with parameters (no per-call statement building).
_INSERT_EVENT = _events.insert()
_ADVANCE_HEAD = (
    update(_chains)
    .where(_chains.c.id == bindparam("chain"), _chains.c.head_seq == bindparam("prev_seq"))
    .values(head_seq=bindparam("seq"), head_hash=bindparam("hash"))
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
        self._held: set[int] = set()

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
        if id(tx) not in self._held:
            self._lock.acquire()
            self._held.add(id(tx))
            state = (self._opened, self._seq, self._hash)
            tx.on_end(lambda: self._release(tx, state))
        before = (self._opened, self._seq, self._hash)
        tx.on_savepoint_rollback(lambda: self._restore(before))
        if not self._opened:
            self._open(tx)
        return self._write(tx, type, actor, subject, outcome, reason, data or {})

    def _restore(self, state: tuple[bool, int, str]) -> None:
        self._opened, self._seq, self._hash = state

    def _release(self, tx: Tx, state: tuple[bool, int, str]) -> None:
        # Called for commit and rollback alike; after a rollback the head goes back.
        if not tx.committed:
            self._restore(state)
        self._held.discard(id(tx))
        self._lock.release()

    def _open(self, tx: Tx) -> None:
        rows = tx.conn.execute(
            select(_chains.c.id, _chains.c.head_seq, _chains.c.head_hash)
            .where(_chains.c.head_seq > 0)
            .order_by(_chains.c.created_at.desc())
            .limit(MAX_ANCHORS)
        ).all()
        tx.conn.execute(
            _chains.insert().values(
                id=self.chain_id,
                writer=self.writer,
                created_at=self.clock(),
                head_seq=0,
                head_hash=self._hash,
            )
        )
        self._opened = True
        anchors = [{"chain": r.id, "seq": r.head_seq, "hash": r.head_hash} for r in rows]
        self._write(
            tx,
            "audit.chain_opened",
            self.writer,
            self.chain_id,
            "ok",
            "",
            {"writer": self.writer, "anchors": anchors},
        )

    def _write(
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
            actor=redact(actor),
            subject=redact(subject),
            outcome=outcome,
            reason=reason,
            data=canonical_json(redact(dict(data))),
            prev_hash=self._hash,
        )
        digest = event_hash(fields)
        tx.conn.execute(
            _INSERT_EVENT,
            {
                "chain_id": fields.chain_id,
                "seq": fields.seq,
                "at": fields.at,
                "type": fields.type,
                "actor": fields.actor,
                "subject": fields.subject,
                "outcome": fields.outcome,
                "reason": fields.reason,
                "data": fields.data,
                "prev_hash": fields.prev_hash,
                "hash": digest,
            },
        )
        moved = tx.conn.execute(
            _ADVANCE_HEAD,
            {"chain": self.chain_id, "prev_seq": self._seq, "seq": fields.seq, "hash": digest},
        ).rowcount
        if moved != 1:
            raise Unavailable(
                "the audit chain head moved underneath this writer",
                reason=Reason.AUDIT_UNAVAILABLE,
            )
        self._seq, self._hash = fields.seq, digest
        return AuditRecord(self.chain_id, fields.seq, digest)
