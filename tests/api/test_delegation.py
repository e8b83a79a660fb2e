"""Delegation at /oauth/token (RFC 8693, a capability token as subject_token): the child's
grant, claims and record, every refusal as an RFC 6749 error, and the revocation cascade."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from broker.api.app import create_app
from broker.clock import FrozenClock
from broker.demo.world import Principal, Seed
from broker.manifests import parse_manifest
from broker.services.container import Services
from tests.api.api_support import assert_oauth_error
from tests.support.broker_app import NOW
from tests.support.factories import floor_doc, template_doc
from tests.support.world import broker_settings, seeded_world

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_CRED = "urn:capbroker:params:oauth:token-type:agent-credential"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"

DELEGATING = template_doc(
    "deleg",
    environments=["staging", "preview"],
    actions=["project:read", "deployment:*", "volume:delete", "backup:*"],
    resources=["proj-*"],
    ttl={"default": "10m", "max": "30m"},
    agents=["claude-*"],
    budgets={"calls": 10, "destructive_calls": 2},
    approval={"actions": ["volume:delete"], "approvers": 1},
    delegation={"max_depth": 2},
)
PLAIN = template_doc("plain", agents=["claude-*"], actions=["project:read"])
FLOOR = floor_doc(forbidden_actions=["backup:delete"])


@dataclass
class World:
    services: Services
    client: TestClient[Any]
    clock: FrozenClock
    creds: dict[str, str] = field(repr=False)

    def root(self, template: str = "deleg", **extra: str) -> dict[str, Any]:
        form = {
            "grant_type": EXCHANGE,
            "subject_token_type": AGENT_CRED,
            "subject_token": self.creds["claude-code"],
            "template": template,
            "environment": "staging",
            **extra,
        }
        r = self.client.post("/oauth/token", data=form)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def delegate(self, subject: str, **extra: str) -> Any:
        form = {
            "grant_type": EXCHANGE,
            "subject_token_type": ACCESS,
            "subject_token": subject,
            **extra,
        }
        return self.client.post("/oauth/token", data=form)

    def claims(self, token: str) -> dict[str, Any]:
        return dict(self.services.issuance.verify(token).claims)

    def introspect(self, token: str) -> dict[str, Any]:
        r = self.client.post(
            "/oauth/introspect",
            data={"token": token},
            headers={"Authorization": f"Bearer {self.creds['root']}"},
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def audit(self, type_: str) -> list[dict[str, Any]]:
        with self.services.db.read() as conn:
            rows = conn.execute(
                text("SELECT actor, reason, data FROM audit_events WHERE type = :t ORDER BY id"),
                {"t": type_},
            ).all()
        return [{"actor": r.actor, "reason": r.reason, **json.loads(r.data)} for r in rows]


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    seed = Seed(
        manifests=[
            parse_manifest(DELEGATING, "t#1"),
            parse_manifest(PLAIN, "t#2"),
            parse_manifest(FLOOR, "t#3"),
        ],
        principals=[
            Principal("admin", "root"),
            Principal("agent", "claude-code"),
            Principal("agent", "claude-sub"),
            Principal("agent", "ci-bot"),
        ],
    )
    clock = FrozenClock(NOW)
    built = seeded_world(broker_settings(tmp_path, database_url), seed, clock=clock)
    creds = {n: built.credential(n) for n in ("root", "claude-code", "claude-sub", "ci-bot")}
    w = World(built.services, TestClient(create_app(built.services)), clock, creds)
    with w.client:
        yield w
    w.services.close()


def test_a_narrower_child_carries_act_and_its_ancestors(world: World) -> None:
    parent = world.root(scope="project:read deployment:create volume:delete")
    r = world.delegate(
        parent["access_token"],
        scope="project:read",
        expires_in="60",
        actor_token=world.creds["claude-sub"],
        actor_token_type=AGENT_CRED,
        authorization_details=json.dumps(
            [
                {
                    "type": "capbroker_capability",
                    "resources": ["proj-a*"],
                    "budgets": {"calls": 3, "destructive_calls": 0},
                }
            ]
        ),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS
    assert body["scope"] == "project:read"
    assert body["expires_in"] == 60
    assert body["session_id"] == parent["session_id"]
    child = world.claims(body["access_token"])
    p = world.claims(parent["access_token"])
    assert child["sub"] == p["sub"]  # the root agent stays the subject
    assert child["client_id"] == "claude-sub"
    assert child["act"]["client_id"] == "claude-sub"
    assert "act" not in child["act"]
    assert child["delegation"] == {
        "parent": p["jti"],
        "ancestors": [{"jti": p["jti"], "budgets": {"calls": 10, "destructive_calls": 2}}],
    }
    detail = child["authorization_details"][0]
    assert detail["resources"] == ["proj-a*"]
    assert detail["budgets"] == {"calls": 3, "destructive_calls": 0}
    assert "approval" not in detail  # volume:delete is not the child's
    seen = world.introspect(body["access_token"])
    assert seen["active"] is True
    assert seen["act"] == child["act"]
    with world.services.db.read() as conn:
        parent_of = conn.execute(
            text("SELECT parent_jti FROM tokens WHERE jti = :j"), {"j": child["jti"]}
        ).scalar_one()
    assert parent_of == p["jti"]
    (issued,) = [e for e in world.audit("token.issued") if e["via"] == "delegation"]
    assert issued["delegation"] == {
        "parent": p["jti"],
        "chain": [p["jti"]],
        "actors": ["claude-sub"],
        "depth": 1,
    }
    assert issued["actor"] == "agent:claude-sub"


def test_a_grandchild_nests_act_and_names_every_ancestor(world: World) -> None:
    parent = world.root()
    child = world.delegate(
        parent["access_token"], actor_token=world.creds["claude-sub"], actor_token_type=AGENT_CRED
    ).json()
    grandchild = world.delegate(child["access_token"], scope="project:read")
    assert grandchild.status_code == 200, grandchild.text
    g = world.claims(grandchild.json()["access_token"])
    p, c = world.claims(parent["access_token"]), world.claims(child["access_token"])
    # No actor_token: the delegator (claude-sub) acts; the prior actor nests inside.
    assert g["act"] == {
        "sub": c["act"]["sub"],
        "client_id": "claude-sub",
        "act": {"sub": c["act"]["sub"], "client_id": "claude-sub"},
    }
    assert [a["jti"] for a in g["delegation"]["ancestors"]] == [p["jti"], c["jti"]]
    # Defaults: everything the parent had, its remaining lifetime, what is left of budgets.
    assert c["exp"] == p["exp"]
    assert c["authorization_details"][0]["budgets"] == {"calls": 10, "destructive_calls": 2}


def _details(**members: Any) -> str:
    return json.dumps([{"type": "capbroker_capability", **members}])


@pytest.mark.parametrize(
    ("extra", "error", "code"),
    [
        ({"scope": "project:read volume:read"}, "invalid_scope", "verb_not_granted"),
        ({"scope": "backup:delete"}, "invalid_scope", "forbidden_verb"),
        ({"environment": "preview"}, "invalid_authorization_details", "environment_not_granted"),
        ({"template": "plain"}, "invalid_target", "invalid_target"),
        ({"expires_in": "301"}, "invalid_request", "ttl_too_long"),
        (
            {"authorization_details": _details(resources=["*"])},
            "invalid_authorization_details",
            "resource_not_granted",
        ),
        (
            {"authorization_details": _details(budgets={"calls": 11})},
            "invalid_authorization_details",
            "budget_exhausted",
        ),
        (
            {"authorization_details": _details(locations=["x"])},
            "invalid_authorization_details",
            "invalid_authorization_details",
        ),
        ({"session_id": "abc"}, "invalid_request", "invalid_request"),
        (
            {"actor_token": "capb_agt_nope", "actor_token_type": AGENT_CRED},
            "invalid_grant",
            "invalid_grant",
        ),
        ({"actor_token": "x", "actor_token_type": ACCESS}, "invalid_request", "invalid_request"),
    ],
)
def test_a_wider_or_malformed_request_is_refused_and_writes_nothing(
    world: World, extra: dict[str, str], error: str, code: str
) -> None:
    parent = world.root(scope="project:read deployment:create", expires_in="300")
    before = _token_count(world)
    body = assert_oauth_error(world.delegate(parent["access_token"], **extra), 400, error, code)
    assert parent["access_token"] not in json.dumps(body)
    assert _token_count(world) == before


def test_an_actor_the_template_does_not_allow_is_refused(world: World) -> None:
    parent = world.root()
    r = world.delegate(
        parent["access_token"], actor_token=world.creds["ci-bot"], actor_token_type=AGENT_CRED
    )
    assert_oauth_error(r, 400, "invalid_authorization_details", "agent_not_allowed")
    (refused,) = world.audit("token.refused")
    assert refused["via"] == "delegation"
    assert refused["parent"] == world.claims(parent["access_token"])["jti"]


def test_depth_is_bounded_by_the_template(world: World) -> None:
    token = world.root()["access_token"]
    for _ in range(2):
        r = world.delegate(token)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
    # The grandchild used as subject again: the template allows two steps.
    assert_oauth_error(world.delegate(token), 400, "invalid_grant", "delegation_too_deep")


def test_a_template_without_the_opt_in_refuses_delegation(world: World) -> None:
    parent = world.root("plain")
    r = world.delegate(parent["access_token"])
    assert_oauth_error(r, 400, "invalid_grant", "delegation_not_allowed")


def test_revoked_expired_and_forged_parents_are_refused(world: World) -> None:
    parent = world.root(expires_in="120")
    revoked = world.root()
    r = world.client.post(
        "/oauth/revoke",
        data={"token": revoked["access_token"]},
        headers={"Authorization": f"Bearer {world.creds['claude-code']}"},
    )
    assert r.status_code == 200
    assert_oauth_error(
        world.delegate(revoked["access_token"]), 400, "invalid_grant", "token_revoked"
    )
    forged = parent["access_token"][:-4] + (
        "AAAA" if parent["access_token"][-4:] != "AAAA" else "BBBB"
    )
    assert_oauth_error(world.delegate(forged), 400, "invalid_grant", "invalid_grant")
    world.clock.advance(400)
    assert_oauth_error(
        world.delegate(parent["access_token"]), 400, "invalid_grant", "invalid_grant"
    )
    rejected = world.audit("token.rejected")
    assert [e["via"] for e in rejected] == ["delegation", "delegation"]
    assert rejected[-1]["reason"] == "token_expired"


def test_the_agent_credential_cannot_be_the_access_token_subject(world: World) -> None:
    r = world.delegate(world.creds["claude-code"])
    body = assert_oauth_error(r, 400, "invalid_grant", "invalid_grant")
    assert world.creds["claude-code"] not in json.dumps(body)


def test_revoking_a_parent_revokes_every_descendant(world: World) -> None:
    parent = world.root()
    child = world.delegate(parent["access_token"]).json()
    grandchild = world.delegate(child["access_token"]).json()
    sibling = world.root()
    r = world.client.post(
        "/oauth/revoke",
        data={"token": parent["access_token"]},
        headers={"Authorization": f"Bearer {world.creds['claude-code']}"},
    )
    assert r.status_code == 200
    for t in (child, grandchild):
        assert world.introspect(t["access_token"]) == {"active": False}
        assert_oauth_error(world.delegate(t["access_token"]), 400, "invalid_grant", "token_revoked")
    assert world.introspect(sibling["access_token"])["active"] is True
    (event,) = world.audit("token.revoked")
    assert event["descendants_revoked"] == 2


def test_the_sub_agent_may_revoke_and_introspect_its_own_delegated_token(world: World) -> None:
    parent = world.root()
    child = world.delegate(
        parent["access_token"], actor_token=world.creds["claude-sub"], actor_token_type=AGENT_CRED
    ).json()
    sub = {"Authorization": f"Bearer {world.creds['claude-sub']}"}
    seen = world.client.post(
        "/oauth/introspect", data={"token": child["access_token"]}, headers=sub
    )
    assert seen.json()["active"] is True
    # Not the parent: that is claude-code's alone.
    seen = world.client.post(
        "/oauth/introspect", data={"token": parent["access_token"]}, headers=sub
    )
    assert seen.json() == {"active": False}
    world.client.post("/oauth/revoke", data={"token": child["access_token"]}, headers=sub)
    assert world.introspect(child["access_token"]) == {"active": False}
    assert world.introspect(parent["access_token"])["active"] is True


def test_a_kill_on_the_root_agent_stops_delegation(world: World) -> None:
    parent = world.root()
    r = world.client.post(
        "/v1/admin/kills",
        json={"scope": "agent", "name": "claude-code", "reason": "test"},
        headers={"Authorization": f"Bearer {world.creds['root']}"},
    )
    assert r.status_code in (200, 201), r.text
    assert_oauth_error(
        world.delegate(parent["access_token"]), 400, "invalid_grant", "token_revoked"
    )


def test_a_kill_on_the_sub_agent_stops_its_delegation(world: World) -> None:
    parent = world.root()
    r = world.client.post(
        "/v1/admin/kills",
        json={"scope": "agent", "name": "claude-sub", "reason": "test"},
        headers={"Authorization": f"Bearer {world.creds['root']}"},
    )
    assert r.status_code in (200, 201), r.text
    r = world.delegate(
        parent["access_token"], actor_token=world.creds["claude-sub"], actor_token_type=AGENT_CRED
    )
    assert_oauth_error(r, 400, "invalid_grant", "kill_switch_engaged")


def test_the_childs_calls_left_are_the_parents(world: World) -> None:
    parent = world.root()
    jti = world.claims(parent["access_token"])["jti"]
    with world.services.db.transaction() as tx:
        tx.conn.execute(
            text("INSERT INTO token_usage (jti, calls, destructive_calls) VALUES (:j, 7, 2)"),
            {"j": jti},
        )
    child = world.delegate(parent["access_token"]).json()
    assert child["authorization_details"][0]["budgets"] == {"calls": 3, "destructive_calls": 0}
    r = world.delegate(parent["access_token"], authorization_details=_details(budgets={"calls": 4}))
    assert_oauth_error(r, 400, "invalid_authorization_details", "budget_exhausted")


def _token_count(world: World) -> int:
    with world.services.db.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM tokens")).scalar_one())


def test_disabling_the_sub_agent_revokes_what_it_was_delegated(world: World) -> None:
    parent = world.root()
    child = world.delegate(
        parent["access_token"], actor_token=world.creds["claude-sub"], actor_token_type=AGENT_CRED
    ).json()
    grandchild = world.delegate(child["access_token"]).json()
    world.services.principals.set_disabled("agent", "claude-sub", disabled=True, actor="test")
    for t in (child, grandchild):
        assert world.introspect(t["access_token"]) == {"active": False}
    assert world.introspect(parent["access_token"])["active"] is True


def test_a_kill_on_the_sub_agent_revokes_its_tokens_in_the_store(world: World) -> None:
    parent = world.root()
    child = world.delegate(
        parent["access_token"], actor_token=world.creds["claude-sub"], actor_token_type=AGENT_CRED
    ).json()
    _, revoked = world.services.kills.engage("agent", "claude-sub", actor="test")
    assert revoked == 1
    assert world.introspect(child["access_token"]) == {"active": False}
    assert world.introspect(parent["access_token"])["active"] is True


def test_no_secret_reaches_the_audit_log(world: World) -> None:
    parent = world.root()
    child = world.delegate(
        parent["access_token"], actor_token=world.creds["claude-sub"], actor_token_type=AGENT_CRED
    ).json()
    world.delegate(parent["access_token"], scope="volume:read")  # a refusal
    world.delegate(child["access_token"][:-3] + "abc")  # a rejection
    with world.services.db.read() as conn:
        everything = json.dumps(
            [tuple(r) for r in conn.execute(text("SELECT * FROM audit_events"))]
        )
    for secret in (parent["access_token"], child["access_token"], *world.creds.values()):
        assert secret not in everything


def test_client_id_must_name_the_agent_the_token_goes_to(world: World) -> None:
    parent = world.root()["access_token"]
    assert world.delegate(parent, client_id="claude-code").status_code == 200
    assert_oauth_error(
        world.delegate(parent, client_id="claude-sub"), 401, "invalid_client", "invalid_client"
    )
    r = world.delegate(
        parent,
        client_id="claude-sub",
        actor_token=world.creds["claude-sub"],
        actor_token_type=AGENT_CRED,
    )
    assert r.status_code == 200, r.text


def test_explain_follows_the_ancestors_as_the_gateway_does(world: World) -> None:
    parent = world.root()
    child = world.delegate(parent["access_token"], scope="project:read").json()
    query = {"token": child["access_token"], "action": "project:read", "environment": "staging"}
    headers = {"Authorization": f"Bearer {world.creds['root']}"}
    assert (
        world.client.post("/v1/admin/explain", json=query, headers=headers).json()["decision"]
        == "allow"
    )
    # Only the parent's row, as when a child was written after the cascade ran.
    with world.services.db.transaction() as tx:
        tx.conn.execute(
            text("UPDATE tokens SET revoked_at = :now WHERE jti = :j"),
            {"now": NOW, "j": world.claims(parent["access_token"])["jti"]},
        )
    body = world.client.post("/v1/admin/explain", json=query, headers=headers).json()
    assert body["decision"] == "deny"
    assert "token_revoked" in body["reasons"]
