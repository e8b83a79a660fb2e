"""The gateway's in-memory revocation set: what is applied, what is forgotten, and when."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.gateway.revocations import _ENDED_SESSIONS, _REVOKED_TOKENS, Changes, Revocations
from broker.store import migrate
from broker.store.engine import make_engine


def changes(tokens=(), sessions=()) -> Changes:  # type: ignore[no-untyped-def]
    return Changes(list(tokens), list(sessions), ())


def test_entries_are_revoked_until_their_tokens_expire() -> None:
    r = Revocations()
    assert r.apply(changes([("j1", 10.0, 100.0)], [("s1", 11.0, 50.5)])) == 2
    assert r.cursor == 11.0
    assert r.revoked("j1", "other")
    assert r.revoked("other", "s1")
    # Filed by expiry second: forgotten once that whole second has passed.
    assert r.prune(now=50.9) == 0
    assert r.prune(now=51.0) == 1  # the session's last token expired: nothing left to refuse
    assert not r.revoked("other", "s1")
    assert r.revoked("j1", "other")
    assert r.prune(now=100.5) == 0
    assert r.prune(now=101.0) == 1
    assert r.tokens == {}
    assert r.sessions == {}


def test_reading_an_entry_again_counts_it_once_and_files_it_once() -> None:
    r = Revocations()
    assert r.apply(changes([("j1", 10.0, 100.0)])) == 1
    assert r.apply(changes([("j1", 10.0, 100.0)])) == 0  # through the cursor overlap
    assert sum(len(t) + len(s) for t, s in r._due.values()) == 1


def test_a_later_expiry_keeps_the_entry_past_the_earlier_one() -> None:
    r = Revocations()
    r.apply(changes(sessions=[("s1", 1.0, 20.0)]))
    r.apply(changes(sessions=[("s1", 2.0, 90.0)]))  # a longer-lived token joined the session
    assert r.prune(now=50.0) == 0
    assert r.revoked("x", "s1")
    assert r.prune(now=91.0) == 1


entry = st.tuples(st.booleans(), st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 40))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.lists(entry, max_size=4), st.integers(0, 50)), max_size=30))
def test_the_set_always_matches_a_model(steps: list[list[tuple[bool, str, int]] | int]) -> None:
    """Applies (batches of entries) and prunes (at a time) in any order: an entry is held
    exactly while its newest expiry is in the future, as far as pruning has reached."""
    r = Revocations()
    model: dict[tuple[bool, str], float] = {}
    now = 0.0
    for step in steps:
        if isinstance(step, int):
            now = max(now, float(step))
            r.prune(now=now)
            model = {k: v for k, v in model.items() if v > now}
            # Forgetting lags expiry by under a second, never more.
            assert all(v > now - 1 for v in [*r.tokens.values(), *r.sessions.values()])
        else:
            tokens = [(key, 0.0, exp + 0.5) for session, key, exp in step if not session]
            sessions = [(key, 0.0, exp + 0.5) for session, key, exp in step if session]
            r.apply(changes(tokens, sessions))
            for session, key, exp in step:
                model[(session, key)] = exp + 0.5
        held = {(False, k): v for k, v in r.tokens.items()}
        held.update({(True, k): v for k, v in r.sessions.items()})
        # Entries applied after the last prune may already be past: only a prune forgets.
        assert {k: v for k, v in held.items() if v > now} == {
            k: v for k, v in model.items() if v > now
        }
        assert set(held) >= {k for k, v in model.items() if v > now}


def test_the_poll_reads_only_the_recent_changes_never_the_whole_set(tmp_path: Path) -> None:
    """Both queries walk an index range from the cursor: a million old revocations cost a
    poll nothing (a scan of them every second cost the gateway 30% more CPU)."""
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    migrate.upgrade(engine)
    conn = engine.raw_connection()
    try:
        for statement, index in (
            (_REVOKED_TOKENS, "ix_tokens_revoked_at"),
            (_ENDED_SESSIONS, "ix_sessions_ended_at"),
        ):
            plan = " | ".join(
                row[3]
                for row in conn.cursor().execute(
                    "EXPLAIN QUERY PLAN " + statement.sql, {"since": 1.0, "now": 2.0}
                )
            )
            assert (
                f"SEARCH s USING INDEX {index}" in plan
                or f"SEARCH tokens USING INDEX {index}" in plan
            ), plan
            assert "SCAN" not in plan, plan
    finally:
        conn.close()
        engine.dispose()
