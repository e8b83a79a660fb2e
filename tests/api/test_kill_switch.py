"""The kill switch through the admin API: tokens revoked, issuance blocked until lifted."""

from __future__ import annotations

import pytest

from tests.api.api_support import assert_problem
from tests.support.broker_app import Broker


def engage(broker: Broker, **body: str) -> dict:  # type: ignore[type-arg]
    r = broker.client.post("/v1/admin/kills", json=body, headers=broker.admin_headers())
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def active(broker: Broker, token: str) -> bool:
    r = broker.client.post(
        "/oauth/introspect", data={"token": token}, headers=broker.admin_headers()
    )
    return bool(r.json()["active"])


@pytest.mark.parametrize(
    ("scope", "name"),
    [("agent", "claude-code"), ("template", "staging-agent"), ("provider", "railway"), ("all", "")],
)
def test_kill_revokes_and_blocks_until_lifted(broker: Broker, scope: str, name: str) -> None:
    token = broker.issue().json()["access_token"]
    killed = engage(broker, scope=scope, name=name, reason="incident 42")
    assert killed["tokens_revoked"] == 1
    assert not active(broker, token)
    assert_problem(broker.issue(), 403, "kill_switch_engaged")
    listed = broker.client.get("/v1/admin/kills", headers=broker.admin_headers()).json()
    assert [k["id"] for k in listed] == [killed["id"]]
    r = broker.client.post(f"/v1/admin/kills/{killed['id']}/lift", headers=broker.admin_headers())
    assert r.status_code == 200
    assert broker.issue().status_code == 201
    assert not active(broker, token)  # lifting does not bring revoked tokens back
    lifted = broker.client.post(
        f"/v1/admin/kills/{killed['id']}/lift", headers=broker.admin_headers()
    )
    assert_problem(lifted, 409, "conflict")
    events = broker.client.get(
        "/v1/admin/audit?type=kill.engaged", headers=broker.admin_headers()
    ).json()
    assert events[0]["data"]["reason"] == "incident 42"


def test_a_kill_on_another_agent_leaves_this_one_alone(broker: Broker) -> None:
    broker.client.post("/v1/admin/agents", json={"name": "ci-bot"}, headers=broker.admin_headers())
    engage(broker, scope="agent", name="ci-bot")
    assert broker.issue().status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"scope": "galaxy", "name": "x"}, 400, "invalid_request"),
        ({"scope": "agent", "name": ""}, 400, "invalid_request"),
        ({"scope": "all", "name": "x"}, 400, "invalid_request"),
        ({"scope": "agent", "name": "ghost"}, 404, "not_found"),
    ],
)
def test_bad_kill_requests(broker: Broker, body: dict, status: int, code: str) -> None:  # type: ignore[type-arg]
    r = broker.client.post("/v1/admin/kills", json=body, headers=broker.admin_headers())
    assert_problem(r, status, code)
    assert broker.issue().status_code == 201


def test_agents_cannot_pull_the_switch(broker: Broker) -> None:
    r = broker.client.post("/v1/admin/kills", json={"scope": "all"}, headers=broker.agent_headers())
    assert_problem(r, 403, "admin_required")  # issue 17: insufficient_scope
