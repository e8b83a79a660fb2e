"""Approvals through the admin API: the blast radius shown, admins only, decided once."""

from __future__ import annotations

from broker.tokens.grant import grant_from_token
from tests.api.api_support import assert_problem
from tests.support.broker_app import Broker
from tests.support.factories import held_volume_delete


def held(broker: Broker) -> str:
    token = broker.services.issuance.verify(broker.issue().json()["access_token"])
    call = held_volume_delete("railway")
    with broker.services.db.transaction() as tx:
        return broker.services.approvals.hold_in(
            tx, call=call, effect="destructive", token=token, grant=grant_from_token(token)
        )


def test_admins_see_the_blast_radius_and_decide(broker: Broker) -> None:
    approval = held(broker)
    pending = broker.client.get(
        "/v1/admin/approvals?status=pending", headers=broker.admin_headers()
    ).json()
    assert [a["id"] for a in pending] == [approval]
    shown = broker.client.get(
        f"/v1/admin/approvals/{approval}", headers=broker.admin_headers()
    ).json()
    assert shown["actions"] == ["volume:delete"]
    assert shown["environments"] == ["staging"]
    assert shown["resources"] == ["volume:vol-cache"]
    assert shown["agent"] == "claude-code"
    assert shown["template"] == "staging-agent"
    r = broker.client.post(
        f"/v1/admin/approvals/{approval}/approve", headers=broker.agent_headers()
    )
    assert_problem(r, 403, "admin_required")  # issue 17: insufficient_scope
    r = broker.client.post(
        f"/v1/admin/approvals/{approval}/approve", headers=broker.admin_headers()
    )
    assert r.status_code == 200
    assert r.json()["status"] == "granted"
    assert r.json()["votes"][0]["approver"] == "admin:root"
    again = broker.client.post(
        f"/v1/admin/approvals/{approval}/deny", headers=broker.admin_headers()
    )
    assert_problem(again, 409, "conflict")
    missing = broker.client.post(
        "/v1/admin/approvals/apr_nothing/approve", headers=broker.admin_headers()
    )
    assert_problem(missing, 404, "not_found")
    events = broker.client.get(
        "/v1/admin/audit?type=approval.approved", headers=broker.admin_headers()
    ).json()
    assert events[0]["actor"] == "admin:root"


def test_bad_verdicts_are_refused(broker: Broker) -> None:
    approval = held(broker)
    r = broker.client.post(f"/v1/admin/approvals/{approval}/maybe", headers=broker.admin_headers())
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
