"""The admin API: manifests, agents, audit, explain, keys; all of it behind an admin credential."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.api.api_support import assert_problem
from tests.support.broker_app import STAGING_TEMPLATE, Broker


def apply(broker: Broker, manifests: list[dict[str, Any]], dry_run: bool = False) -> Any:
    return broker.client.post(
        "/v1/admin/manifests",
        json={"manifests": manifests, "dry_run": dry_run},
        headers=broker.admin_headers(),
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/admin/templates",
        "/v1/admin/agents",
        "/v1/admin/audit",
        "/v1/admin/audit/verify",
        "/v1/admin/keys",
    ],
)
def test_admin_routes_refuse_agents_and_anonymous(broker: Broker, path: str) -> None:
    assert_problem(broker.client.get(path), 401, "unauthenticated")
    # Issue 17: a valid credential without the role is 403 insufficient_scope (RFC 6750 3.1).
    r = broker.client.get(path, headers=broker.agent_headers())
    assert assert_problem(r, 403, "admin_required")["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    # A wrong secret behind an agent's prefix stays a 401.
    forged = broker.agent[:-4] + ("AAAA" if not broker.agent.endswith("AAAA") else "BBBB")
    r = broker.client.get(path, headers=broker.agent_headers(forged))
    assert_problem(r, 401, "credential_invalid")


def test_template_versions(broker: Broker) -> None:
    changed = copy.deepcopy(STAGING_TEMPLATE)
    changed["spec"]["ttl"]["max"] = "20m"
    dry = apply(broker, [changed], dry_run=True).json()
    assert dry["changes"][0]["action"] == "update"
    assert dry["changes"][0]["diff"]
    assert (
        broker.client.get(
            "/v1/admin/templates/staging-agent", headers=broker.admin_headers()
        ).json()["version"]
        == 1
    )
    assert apply(broker, [changed]).json()["changes"][0]["to_version"] == 2
    assert apply(broker, [changed]).json()["changes"][0]["action"] == "unchanged"
    got = broker.client.get(
        "/v1/admin/templates/staging-agent", headers=broker.admin_headers()
    ).json()
    assert got["version"] == 2
    assert got["versions"] == [1, 2]
    old = broker.client.get(
        "/v1/admin/templates/staging-agent/versions/1", headers=broker.admin_headers()
    ).json()
    assert old["spec"]["ttl"]["max"] == 1800
    # new tokens name the new version
    token = broker.issue().json()
    assert token["template_version"] == 2


def test_invalid_manifest_names_the_field(broker: Broker) -> None:
    bad = copy.deepcopy(STAGING_TEMPLATE)
    bad["spec"]["actions"][1] = "Deploy Everything"
    body = assert_problem(apply(broker, [bad]), 400, "invalid_manifest")
    assert "request#1" in body["detail"]
    assert "spec.actions[1]" in body["detail"]


def test_agents_created_with_secret_shown_once(broker: Broker) -> None:
    r = broker.client.post(
        "/v1/admin/agents",
        json={"name": "ci-bot", "description": "CI"},
        headers=broker.admin_headers(),
    )
    assert r.status_code == 201
    credential = r.json()["credential"]
    broker.secrets.append(credential)
    listing = broker.client.get("/v1/admin/agents", headers=broker.admin_headers())
    assert credential not in listing.text
    assert {a["name"] for a in listing.json()} == {"claude-code", "ci-bot"}
    dup = broker.client.post(
        "/v1/admin/agents", json={"name": "ci-bot"}, headers=broker.admin_headers()
    )
    assert_problem(dup, 409, "conflict")
    audit = broker.client.get("/v1/admin/audit", headers=broker.admin_headers())
    assert credential not in audit.text


def test_explain_template_and_token(broker: Broker) -> None:
    r = broker.client.post(
        "/v1/admin/explain",
        headers=broker.admin_headers(),
        json={"template": "staging-agent", "action": "backup:delete", "environment": "production"},
    )
    body = r.json()
    assert body["decision"] == "deny"
    assert {"forbidden_verb", "environment_not_granted"} <= set(body["reasons"])
    token = broker.issue(actions=["project:read"]).json()["access_token"]
    r = broker.client.post(
        "/v1/admin/explain",
        headers=broker.admin_headers(),
        json={"token": token, "action": "deployment:create", "environment": "staging"},
    )
    assert r.json()["decision"] == "deny"
    assert "verb_not_granted" in r.json()["reasons"]
    r = broker.client.post(
        "/v1/admin/explain",
        headers=broker.admin_headers(),
        json={"token": token, "action": "project:read", "environment": "staging"},
    )
    assert r.json()["decision"] == "allow"
    r = broker.client.post(
        "/v1/admin/explain",
        headers=broker.admin_headers(),
        json={"action": "project:read", "environment": "staging"},
    )
    assert_problem(r, 400, "invalid_request")


def test_explain_for_a_token_follows_its_templates_narrowing(broker: Broker) -> None:
    token = broker.issue().json()["access_token"]
    narrower = copy.deepcopy(STAGING_TEMPLATE)
    narrower["spec"]["actions"] = ["project:read", "volume:delete"]  # deployments dropped
    assert apply(broker, [narrower]).status_code == 200
    broker.clock.advance(2)  # past the template service's refresh time

    def explain(action: str, environment: str = "staging") -> dict[str, Any]:
        body: dict[str, Any] = broker.client.post(
            "/v1/admin/explain",
            headers=broker.admin_headers(),
            json={"token": token, "action": action, "environment": environment},
        ).json()
        return body

    assert explain("project:read")["decision"] == "allow"
    assert "verb_not_granted" in explain("deployment:create")["reasons"]
    gone = copy.deepcopy(STAGING_TEMPLATE)
    gone["spec"]["environments"] = ["preview"]
    assert apply(broker, [gone]).status_code == 200
    broker.clock.advance(2)
    lapsed = explain("project:read")
    assert (lapsed["decision"], lapsed["reasons"]) == ("deny", ["environment_not_granted"])


def test_audit_verify_and_key_rotation(broker: Broker) -> None:
    keys = broker.client.get("/v1/admin/keys", headers=broker.admin_headers()).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["signing"]
    rotated = broker.client.post("/v1/admin/keys/rotate", headers=broker.admin_headers()).json()
    jwks = broker.client.get("/.well-known/jwks.json").json()
    assert rotated["kid"] in {k["kid"] for k in jwks["keys"]}  # published before it signs
    old_token = broker.issue().json()["access_token"]
    assert broker.services.issuance.verify(old_token).kid == keys[0]["kid"]
    broker.clock.advance(broker.services.settings.key_propagation_delay + 1)
    broker.services.keys.keyset(force=True)
    new_token = broker.issue().json()["access_token"]
    assert broker.services.issuance.verify(new_token).kid == rotated["kid"]
    # the retired key still verifies what it signed
    assert broker.services.issuance.verify(old_token).kid == keys[0]["kid"]
    verify = broker.client.get("/v1/admin/audit/verify", headers=broker.admin_headers()).json()
    assert verify["ok"] is True
