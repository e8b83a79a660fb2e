"""The pure hash chain: any edit, deletion, insertion or truncation is pinpointed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker.audit.chain import EventFields, StoredEvent, event_hash, genesis_hash, verify_chain


def build(n: int, chain: str = "c1") -> list[StoredEvent]:
    events, prev = [], genesis_hash(chain)
    for seq in range(1, n + 1):
        f = EventFields(
            chain, seq, 1000.0 + seq, "t", "actor", "subj", "ok", "", f'{{"i":{seq}}}', prev
        )
        h = event_hash(f)
        events.append(StoredEvent(f, h))
        prev = h
    return events


def head(events: list[StoredEvent]) -> tuple[int, str]:
    return (events[-1].fields.seq, events[-1].hash) if events else (0, "")


def test_intact_chain_verifies() -> None:
    events = build(5)
    seq, h = head(events)
    report = verify_chain("c1", "w", events, head_seq=seq, head_hash=h)
    assert report.ok
    assert report.events == 5


@given(st.integers(2, 12), st.data())
def test_edit_is_pinpointed(n: int, data: st.DataObject) -> None:
    events = build(n)
    seq, h = head(events)
    i = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["actor", "outcome", "data", "at", "reason"]))
    value = {"actor": "mallory", "outcome": "denied", "data": "{}", "at": 1.5, "reason": "x"}[field]
    edited = list(events)
    edited[i] = StoredEvent(events[i].fields._replace(**{field: value}), events[i].hash)
    report = verify_chain("c1", "w", edited, head_seq=seq, head_hash=h)
    assert not report.ok
    assert report.first_bad_seq == i + 1


@given(st.integers(2, 12), st.data())
def test_deletion_is_pinpointed(n: int, data: st.DataObject) -> None:
    events = build(n)
    seq, h = head(events)
    i = data.draw(st.integers(0, n - 1))
    report = verify_chain("c1", "w", events[:i] + events[i + 1 :], head_seq=seq, head_hash=h)
    assert not report.ok
    assert report.first_bad_seq == i + 1


def test_truncation_is_detected_against_the_head() -> None:
    events = build(6)
    seq, h = head(events)
    report = verify_chain("c1", "w", events[:4], head_seq=seq, head_hash=h)
    assert not report.ok
    assert report.first_bad_seq == 5


def test_event_cannot_move_to_another_chain() -> None:
    events = build(3, chain="c2")
    moved = [StoredEvent(e.fields._replace(chain_id="c1"), e.hash) for e in events]
    report = verify_chain("c1", "w", moved, head_seq=3, head_hash=events[-1].hash)
    assert not report.ok
    assert report.first_bad_seq == 1
