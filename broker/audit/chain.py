"""Pure hash-chain arithmetic and verification. No I/O: rows come in as plain values."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# One encoder for every event: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def genesis_hash(chain_id: str) -> str:
    """The 'previous hash' of a chain's first event; chain-specific so events cannot move chains."""
    return hashlib.sha256(f"capbroker-audit-genesis\n{chain_id}".encode()).hexdigest()


class EventFields(NamedTuple):
    """What an event's hash covers (a tuple: built for every event written, so cheap)."""

    chain_id: str
    seq: int
    at: float
    type: str
    actor: str
    subject: str
    outcome: str
    reason: str
    data: str  # canonical JSON text, hashed as stored
    prev_hash: str


def event_hash(e: EventFields) -> str:
    head = canonical_json(
        [e.chain_id, e.seq, repr(float(e.at)), e.type, e.actor, e.subject, e.outcome, e.reason]
    )
    return hashlib.sha256(f"{e.prev_hash}\n{head}\n{e.data}".encode()).hexdigest()


@dataclass(frozen=True)
class StoredEvent:
    fields: EventFields
    hash: str


@dataclass
class ChainReport:
    chain_id: str
    writer: str
    events: int = 0
    ok: bool = True
    first_bad_seq: int | None = None
    problem: str = ""
    anchors: list[Mapping[str, Any]] = field(default_factory=list)

    def fail(self, seq: int, problem: str) -> None:
        if self.ok:
            self.ok, self.first_bad_seq, self.problem = False, seq, problem


def verify_chain(
    chain_id: str,
    writer: str,
    events: Iterable[StoredEvent],
    *,
    head_seq: int,
    head_hash: str,
) -> ChainReport:
    """Walk a chain in seq order; report the first event that is altered, missing or extra."""
    report = ChainReport(chain_id, writer)
    expected_prev = genesis_hash(chain_id)
    expected_seq = 1
    for event in events:
        f = event.fields
        report.events += 1
        if not report.ok:
            continue
        if f.seq != expected_seq:
            report.fail(expected_seq, f"event {expected_seq} is missing (next found: {f.seq})")
            continue
        if f.prev_hash != expected_prev:
            report.fail(f.seq, f"event {f.seq} does not link to event {f.seq - 1}")
            continue
        if event_hash(f) != event.hash:
            report.fail(f.seq, f"event {f.seq} was altered (its hash does not match its content)")
            continue
        if f.seq == 1 and f.type == "audit.chain_opened":
            report.anchors = list(json.loads(f.data).get("anchors", []))
        expected_prev = event.hash
        expected_seq += 1
    if report.ok:
        last_seq = expected_seq - 1
        if last_seq < head_seq:
            report.fail(last_seq + 1, f"events {last_seq + 1}..{head_seq} are missing")
        elif last_seq > head_seq or (head_seq > 0 and expected_prev != head_hash):
            report.fail(head_seq, "the chain head record does not match its last event")
    return report
