"""Delegated tokens at the gateway, end to end over real sockets: the broker's /oauth/token
and the gateway served, the permissive upstream behind them recording what reached it.
The child is accepted only within its grant; revoking or killing its parent stops it; its
calls count against its parent's budget. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from broker.api.app import create_app
from broker.demo.provider.server import ServerThread
from broker.manifests import parse_manifest
from broker.services.issuance import IssuedCapability
from tests.support.factories import template_doc
from tests.support.permissive_upstream import PermissiveUpstream
from tests.support.stack import PERMISSIVE, PERMISSIVE_STAGING, Stack, build_stack

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_CRED = "urn:capbroker:params:oauth:token-type:agent-credential"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
# The stack's template, version 2: the same, plus the delegation opt-in.
DELEGATING = template_doc(
    "permissive-staging", **{**PERMISSIVE_STAGING["spec"], "delegation": {"max_depth": 2}}
)
SETTLE = 15.0  # the most a poll of the revocation feed (0.2 s) may take on a loaded machine


@dataclass
class Delegation:
    stack: Stack
    broker_url: str
    sub_agent: str  # a second agent's credential

    @property
    def upstream(self) -> PermissiveUpstream:
        assert self.stack.permissive is not None
        return self.stack.permissive

    def root(self) -> IssuedCapability:
        from broker.domain.grants import GrantRequest

        return self.stack.services.issuance.issue(
            self.stack.agent, GrantRequest("permissive-staging", "staging")
        )

    def delegate(self, subject: str, **extra: str) -> httpx.Response:
        form = {
            "grant_type": EXCHANGE,
            "subject_token_type": ACCESS,
            "subject_token": subject,
            **extra,
        }
        return httpx.post(f"{self.broker_url}/oauth/token", data=form, timeout=10)

    def child(self, subject: str, **extra: str) -> str:
        r = self.delegate(subject, **extra)
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    def get(self, token: str) -> httpx.Response:
        return httpx.get(
            f"{self.stack.url}/{PERMISSIVE}/items",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def post(self, token: str) -> httpx.Response:
        return httpx.post(
            f"{self.stack.url}/{PERMISSIVE}/items",
            json={"name": "a", "environment": "staging"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def refused_once_known(self, token: str) -> httpx.Response:
        """The answer to ``token`` once the gateway's feed has caught up (bounded)."""
        deadline = time.monotonic() + SETTLE
        while True:
            r = self.get(token)
            if r.status_code != 200 or time.monotonic() > deadline:
                return r
            time.sleep(0.1)


@pytest.fixture
def deleg(tmp_path: Path, database_url: str) -> Iterator[Delegation]:
    for stack in build_stack(tmp_path, database_url, permissive=True):
        services = stack.services
        services.templates.apply(
            [parse_manifest(DELEGATING, "t#deleg")], actor="admin:test", dry_run=False
        )
        sub = services.principals.create("agent", "claude-sub", actor="admin:test")
        server = ServerThread(create_app(services)).start()
        try:
            yield Delegation(stack, server.url, sub.credential)
        finally:
            server.stop()


def _code(r: httpx.Response) -> str:
    code: str = r.json()["code"]
    return code


def test_a_child_outside_its_verbs_is_refused_and_nothing_is_forwarded(
    deleg: Delegation,
) -> None:
    parent = deleg.root().access_token
    child = deleg.child(parent, scope="item:read")
    assert deleg.get(child).status_code == 200
    assert [r.effective_method for r in deleg.upstream.received()] == ["GET"]
    deleg.upstream.clear()
    refused = deleg.post(child)
    assert refused.status_code == 403, refused.text
    assert _code(refused) == "verb_not_granted"
    assert deleg.upstream.received() == []
    assert deleg.post(parent).status_code == 200  # the parent still may


def test_a_child_whose_parent_is_revoked_is_refused_even_without_its_own_row(
    deleg: Delegation,
) -> None:
    parent = deleg.root()
    child = deleg.child(parent.access_token, scope="item:read")
    assert deleg.get(child).status_code == 200
    # Only the parent's row, as when a child was written after the cascade ran.
    with deleg.stack.services.db.transaction() as tx:
        tx.conn.execute(
            text("UPDATE tokens SET revoked_at = :now WHERE jti = :j"),
            {"now": time.time(), "j": parent.jti},
        )
    assert _code(deleg.refused_once_known(parent.access_token)) == "token_revoked"
    deleg.upstream.clear()
    r = deleg.get(child)
    assert r.status_code == 403, r.text
    assert _code(r) == "token_revoked"
    assert deleg.upstream.received() == []


def test_revoking_the_parent_at_the_broker_stops_the_child(deleg: Delegation) -> None:
    parent = deleg.root()
    grandchild = deleg.child(deleg.child(parent.access_token), scope="item:read")
    assert deleg.get(grandchild).status_code == 200
    r = httpx.post(
        f"{deleg.broker_url}/oauth/revoke",
        data={"token": parent.access_token},
        headers={"Authorization": f"Bearer {deleg.stack.agent}"},
        timeout=10,
    )
    assert r.status_code == 200
    assert _code(deleg.refused_once_known(grandchild)) == "token_revoked"


def test_a_kill_on_the_parents_agent_stops_the_child(deleg: Delegation) -> None:
    parent = deleg.root().access_token
    child = deleg.child(
        parent, actor_token=deleg.sub_agent, actor_token_type=AGENT_CRED, scope="item:read"
    )
    assert deleg.get(child).status_code == 200
    deleg.stack.services.kills.engage("agent", "claude-code", actor="admin:test")
    r = deleg.refused_once_known(child)
    assert _code(r) in ("token_revoked", "kill_switch_engaged"), r.text


def test_a_kill_on_the_sub_agent_stops_its_delegated_token(deleg: Delegation) -> None:
    parent = deleg.root().access_token
    child = deleg.child(parent, actor_token=deleg.sub_agent, actor_token_type=AGENT_CRED)
    assert deleg.get(child).status_code == 200
    grandchild = deleg.child(child, scope="item:read")  # claude-sub acts in it too
    _, revoked = deleg.stack.services.kills.engage("agent", "claude-sub", actor="admin:test")
    assert revoked == 2  # by tokens.actor_id, and the descendants of those
    for token in (child, grandchild):
        r = deleg.refused_once_known(token)
        assert _code(r) in ("token_revoked", "kill_switch_engaged"), r.text
    assert deleg.get(parent).status_code == 200


def test_the_childs_calls_count_against_its_parent(deleg: Delegation) -> None:
    parent = deleg.root()
    details = json.dumps([{"type": "capbroker_capability", "budgets": {"calls": 2}}])
    child = deleg.child(parent.access_token, authorization_details=details)
    assert [deleg.get(child).status_code for _ in range(3)] == [200, 200, 403]
    with deleg.stack.services.db.read() as conn:
        used = dict(
            conn.execute(text("SELECT jti, calls FROM token_usage")).all()  # type: ignore[arg-type]
        )
    assert used[parent.jti] == 2  # the parent's budget saw the child's two calls
    events = _decisions(deleg)
    delegated = [e for e in events if e.get("delegation")]
    assert len(delegated) == 3
    assert delegated[0]["delegation"] == {"chain": [parent.jti], "actors": ["claude-code"]}
    assert parent.access_token not in json.dumps(events)
    assert child not in json.dumps(events)


def _decisions(deleg: Delegation) -> list[dict[str, Any]]:
    with deleg.stack.gateway.store.db.read() as conn:
        rows = conn.execute(
            text("SELECT data FROM audit_events WHERE type = 'gateway.decision' ORDER BY id")
        ).all()
    return [json.loads(r.data) for r in rows]


def test_a_template_narrowing_binds_the_ancestors_budgets_too(deleg: Delegation) -> None:
    parent = deleg.root()
    assert [deleg.get(parent.access_token).status_code for _ in range(2)] == [200, 200]
    child = deleg.child(parent.access_token)  # 998 calls left, so its own budget is 998
    narrowed = template_doc("permissive-staging", **{**DELEGATING["spec"], "budgets": {"calls": 3}})
    deleg.stack.services.templates.apply(
        [parse_manifest(narrowed, "t#narrow")], actor="admin:test", dry_run=False
    )
    templates = deleg.stack.gateway.feed.revocations.templates
    deadline = time.monotonic() + SETTLE
    while (known := templates.get("permissive-staging")) is None or known.version < 3:
        assert time.monotonic() < deadline, "the gateway never read the new version"
        time.sleep(0.1)
    # The parent has one of its 3 left: the child may make that one call, not a second,
    # although its own (narrowed) budget of 3 is untouched.
    first, second = deleg.get(child), deleg.get(child)
    assert first.status_code == 200, first.text
    assert second.status_code == 403, second.text
    assert _code(second) == "budget_exhausted"
