"""Each template's current version as the gateway's feed reads it from a real store: only
changed specs are read, a template gone from the store is gone from the feed, an unreadable
spec is never taken for a wider one, and a failed read leaves the feed stale (fail closed)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import text

from broker.clock import FrozenClock
from broker.domain.grants import Grant, GrantRequest, decide_grant
from broker.domain.policy import EMPTY_FLOOR
from broker.domain.templates import Template, template_to_spec
from broker.errors import Denied, Reason
from broker.gateway.authenticate import Authenticator
from broker.gateway.revocations import CURSOR_OVERLAP, RevocationFeed
from broker.gateway.templatefeed import CurrentTemplates
from broker.gateway.tokens import VerifiedTokens
from broker.store import migrate
from broker.store.database import Database
from broker.store.engine import make_engine
from broker.tokens import VerifiedToken
from tests.support.factories import template


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    migrate.upgrade(engine)
    yield Database(engine)
    engine.dispose()


def store(db: Database, name: str, version: int, spec: str) -> None:
    with db.transaction() as tx:
        tx.conn.execute(
            text(
                "INSERT INTO template_versions (name, version, spec, digest, created_at,"
                " created_by) VALUES (:n, :v, :s, 'd', 0, 'test')"
            ),
            {"n": name, "v": version, "s": spec},
        )


def spec_of(**overrides: object) -> str:
    return json.dumps(template_to_spec(template("t", **overrides)))


def poll(db: Database, current: CurrentTemplates) -> dict[str, int]:
    """Poll once; what was read again (name -> version)."""
    with db.read() as conn:
        changes = current.fetch(conn)
    current.apply(changes)
    return {name: c.version if c else 0 for name, c in changes.changed.items()}


def test_a_poll_reads_only_the_specs_that_changed(db: Database) -> None:
    current = CurrentTemplates()
    store(db, "t", 1, spec_of())
    store(db, "u", 1, spec_of())
    assert poll(db, current) == {"t": 1, "u": 1}
    assert poll(db, current) == {}  # nothing new: no spec read again
    store(db, "t", 2, spec_of(actions=["project:read"], approval={}))
    assert poll(db, current) == {"t": 2}
    t = current.get("t")
    assert t is not None
    assert (t.version, t.template.actions) == (2, ("project:read",))
    with db.transaction() as tx:
        tx.conn.execute(text("DELETE FROM template_versions WHERE name = 'u'"))
    poll(db, current)
    assert current.get("u") is None
    assert current.get("t") is t


def test_an_unreadable_spec_is_no_template(db: Database) -> None:
    current = CurrentTemplates()
    store(db, "t", 1, spec_of())
    poll(db, current)
    store(db, "t", 2, '{"provider": "railway"}')  # what no apply would write
    poll(db, current)
    assert current.get("t") is None  # its tokens are refused, never let through as before


def test_a_failed_read_leaves_the_feed_stale(db: Database) -> None:
    clock = FrozenClock(1000.0)
    feed = RevocationFeed(db, clock=clock, stale_after=10.0)
    store(db, "t", 1, spec_of())
    feed.poll()
    assert feed.revocations.templates.get("t") is not None
    assert feed.read_after(1000.0 - CURSOR_OVERLAP - 1)
    assert not feed.read_after(1000.0 - CURSOR_OVERLAP)
    with db.transaction() as tx:
        tx.conn.execute(text("ALTER TABLE template_versions RENAME TO gone"))
    clock.advance(5)
    with pytest.raises(sqlite3.OperationalError):  # the poller logs it and keeps polling
        feed.poll()
    assert not feed.stale()
    clock.advance(6)  # more than stale_after since the last good read
    assert feed.stale()


def grant_of(t: Template) -> Grant:
    request = GrantRequest("t", "staging")
    grant = decide_grant(
        t, 1, EMPTY_FLOOR, agent_name="claude-code", request=request, ttl_ceiling=3600
    )
    assert isinstance(grant, Grant)
    return grant


def token_of(version: int, iat: float) -> VerifiedToken:
    return VerifiedToken(
        {}, "k", "jti-1", "agent", "sid", "claude", iat + 600, iat, "t", version, ()
    )


def test_a_token_the_feed_cannot_judge_yet_is_taken_as_issued(db: Database) -> None:
    clock = FrozenClock(1000.0)
    feed = RevocationFeed(db, clock=clock)
    store(db, "t", 1, spec_of())
    feed.poll()
    auth = Authenticator(cast(VerifiedTokens, None), feed)
    grant = grant_of(template("t"))
    newer = replace(grant, template_version=2)
    # Issued from version 2 just now: the feed read before it and knows only version 1.
    assert auth.following(token_of(2, iat=999.0), newer) is newer
    # A read made well after it that still does not find version 2: that version is gone.
    clock.advance(CURSOR_OVERLAP + 1)
    feed.poll()
    with pytest.raises(Denied) as refused:
        auth.following(token_of(2, iat=999.0), newer)
    assert refused.value.reason is Reason.TOKEN_REVOKED
    # Version 1's tokens, the one the feed knows, keep their own grant.
    assert auth.following(token_of(1, iat=999.0), grant) is grant
