"""DPoP at issuance (RFC 9449 section 5): a proof signed by joserfc (tests/support/dpop_client.py)
at /oauth/token and /v1/tokens binds the token to its key; a template that requires DPoP
refuses a request without one; a bad proof is ``invalid_dpop_proof`` and issues nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from broker.manifests import parse_manifest
from tests.api.api_support import assert_oauth_error, assert_problem, count_rows, decode_unverified
from tests.support.broker_app import NOW, STAGING_TEMPLATE, Broker
from tests.support.dpop_client import ProofKey
from tests.support.world import ISSUER

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AGENT_CRED = "urn:capbroker:params:oauth:token-type:agent-credential"
TOKEN_URL = f"{ISSUER}/oauth/token"
TOKENS_URL = f"{ISSUER}/v1/tokens"


def _form(broker: Broker, template: str = "staging-agent") -> dict[str, str]:
    return {
        "grant_type": EXCHANGE,
        "subject_token_type": AGENT_CRED,
        "subject_token": broker.agent,
        "template": template,
        "environment": "staging",
    }


def _require_dpop(broker: Broker, name: str = "dpop-only") -> None:
    doc = json.loads(json.dumps(STAGING_TEMPLATE))
    doc["metadata"]["name"] = name
    doc["spec"]["require_dpop"] = True
    broker.services.templates.apply([parse_manifest(doc, "t#d")], actor="test", dry_run=False)


def _exchange(broker: Broker, headers: list[tuple[str, str]], **form: str) -> Any:
    return broker.client.post(
        "/oauth/token", content=_encoded({**_form(broker), **form}), headers=headers
    )


def _encoded(form: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(form).encode()


FORM = ("Content-Type", "application/x-www-form-urlencoded")


@pytest.mark.parametrize("kind", ["ES256", "Ed25519", "RS256"])
def test_a_proof_at_the_token_endpoint_binds_the_token(broker: Broker, kind: str) -> None:
    key = ProofKey(kind)
    r = _exchange(broker, [FORM, ("DPoP", key.proof("POST", TOKEN_URL, iat=NOW))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    _, claims = decode_unverified(body["access_token"])
    assert claims["cnf"] == {"jkt": key.jkt}
    # introspection says so too (RFC 9449 6.2)
    seen = broker.client.post(
        "/oauth/introspect",
        data={"token": body["access_token"]},
        headers={"Authorization": f"Bearer {broker.admin}"},
    ).json()
    assert (seen["active"], seen["token_type"], seen["cnf"]) == (True, "DPoP", {"jkt": key.jkt})
    # and the issuance event names the key's thumbprint (a public value), not the proof
    with broker.services.db.read() as conn:
        data = conn.execute(
            text("SELECT data FROM audit_events WHERE type = 'token.issued' ORDER BY seq DESC")
        ).first()
    assert data is not None
    assert json.loads(data[0])["dpop_jkt"] == key.jkt


def test_a_proof_at_v1_tokens_binds_the_token(broker: Broker) -> None:
    key = ProofKey()
    r = broker.client.post(
        "/v1/tokens",
        json={"template": "staging-agent", "environment": "staging"},
        headers={**broker.agent_headers(), "DPoP": key.proof("POST", TOKENS_URL, iat=NOW)},
    )
    assert r.status_code == 201, r.text
    assert r.json()["token_type"] == "DPoP"
    assert broker.services.issuance.verify(r.json()["access_token"]).cnf_jkt == key.jkt


def test_without_a_proof_tokens_stay_bearer(broker: Broker) -> None:
    r = _exchange(broker, [FORM])
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    assert "cnf" not in decode_unverified(r.json()["access_token"])[1]
    seen = broker.client.post(
        "/oauth/introspect",
        data={"token": r.json()["access_token"]},
        headers={"Authorization": f"Bearer {broker.admin}"},
    ).json()
    assert seen["token_type"] == "Bearer"
    assert "cnf" not in seen


def test_a_template_that_requires_dpop_refuses_a_request_without_a_proof(broker: Broker) -> None:
    _require_dpop(broker)
    before = count_rows(broker, "tokens")
    r = _exchange(broker, [FORM], template="dpop-only")
    body = assert_oauth_error(r, 400, "invalid_dpop_proof", "invalid_dpop_proof")
    assert "DPoP" in body["error_description"]
    r = broker.issue(template="dpop-only")
    assert_problem(r, 400, "invalid_dpop_proof")
    assert count_rows(broker, "tokens") == before
    # and with one it issues, bound
    key = ProofKey()
    r = _exchange(
        broker, [FORM, ("DPoP", key.proof("POST", TOKEN_URL, iat=NOW))], template="dpop-only"
    )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"


def _bad_proofs(key: ProofKey) -> dict[str, list[tuple[str, str]]]:
    other = ProofKey()
    good = key.proof("POST", TOKEN_URL, iat=NOW)
    forged = good.rsplit(".", 1)[0] + "." + other.proof("POST", TOKEN_URL, iat=NOW).rsplit(".")[-1]
    return {
        "wrong-method": [("DPoP", key.proof("GET", TOKEN_URL, iat=NOW))],
        "wrong-url": [("DPoP", key.proof("POST", f"{ISSUER}/oauth/revoke", iat=NOW))],
        "host-header-url": [
            ("DPoP", key.proof("POST", "http://testserver.local/oauth/token", iat=NOW))
        ],
        "too-old": [("DPoP", key.proof("POST", TOKEN_URL, iat=NOW - 600))],
        "future": [("DPoP", key.proof("POST", TOKEN_URL, iat=NOW + 600))],
        "with-ath": [("DPoP", key.proof("POST", TOKEN_URL, iat=NOW, token="x.y.z"))],
        "another-key's-signature": [("DPoP", forged)],
        "not-a-jwt": [("DPoP", "not a proof")],
        "two-headers": [("DPoP", good), ("DPoP", key.proof("POST", TOKEN_URL, iat=NOW))],
    }


@pytest.mark.parametrize(
    "case",
    [
        "wrong-method",
        "wrong-url",
        "host-header-url",
        "too-old",
        "future",
        "with-ath",
        "another-key's-signature",
        "not-a-jwt",
        "two-headers",
    ],
)
def test_a_bad_proof_is_invalid_dpop_proof_and_issues_nothing(broker: Broker, case: str) -> None:
    before = count_rows(broker, "tokens")
    headers = _bad_proofs(ProofKey())[case]
    r = _exchange(broker, [FORM, *headers])
    assert_oauth_error(r, 400, "invalid_dpop_proof", "invalid_dpop_proof")
    r = broker.client.post(
        "/v1/tokens",
        content=json.dumps({"template": "staging-agent", "environment": "staging"}),
        headers=[*broker.agent_headers().items(), ("Content-Type", "application/json"), *headers],
    )
    assert_problem(r, 400, "invalid_dpop_proof")
    assert count_rows(broker, "tokens") == before


def test_a_replayed_proof_is_refused(broker: Broker) -> None:
    proof = ProofKey().proof("POST", TOKEN_URL, iat=NOW)
    assert _exchange(broker, [FORM, ("DPoP", proof)]).status_code == 200
    r = _exchange(broker, [FORM, ("DPoP", proof)])
    body = assert_oauth_error(r, 400, "invalid_dpop_proof", "invalid_dpop_proof")
    assert "replayed" in body["error_description"]


def test_metadata_lists_the_proof_algorithms(broker: Broker) -> None:
    meta = broker.client.get("/.well-known/oauth-authorization-server").json()
    assert set(meta["dpop_signing_alg_values_supported"]) == {"EdDSA", "Ed25519", "ES256", "RS256"}


def test_two_templates_with_the_same_spec_are_two_templates(broker: Broker) -> None:
    """The parsed-template cache was keyed by spec digest alone: a copy of a template
    under another name got the first one's name, and its requests were refused."""
    doc = json.loads(json.dumps(STAGING_TEMPLATE))
    doc["metadata"]["name"] = "staging-copy"
    broker.services.templates.apply([parse_manifest(doc, "t#c")], actor="test", dry_run=False)
    r = broker.issue(template="staging-copy")
    assert r.status_code == 201, r.text
    assert r.json()["template"] == "staging-copy"
    assert broker.issue().json()["template"] == "staging-agent"


def test_a_bound_token_at_the_approval_status_route_needs_its_proof(broker: Broker) -> None:
    """The broker route that takes a capability token holds it to its binding as the
    gateway does: a stolen bound token used as Bearer learns nothing."""
    key = ProofKey()
    r = _exchange(broker, [FORM, ("DPoP", key.proof("POST", TOKEN_URL, iat=NOW))])
    token = r.json()["access_token"]
    path = "/v1/approvals/apr_nothing"
    url = f"{ISSUER}{path}"

    def status(headers: dict[str, str]) -> int:
        answer = broker.client.get(path, headers=headers)
        assert token not in answer.text
        return answer.status_code

    proof = key.proof("GET", url, token=token, iat=NOW)
    assert status({"Authorization": f"Bearer {token}"}) == 401
    assert status({"Authorization": f"DPoP {token}"}) == 401  # no proof
    other = ProofKey().proof("GET", url, token=token, iat=NOW)
    assert status({"Authorization": f"DPoP {token}", "DPoP": other}) == 401
    wrong_url = key.proof("GET", f"{ISSUER}/v1/approvals/apr_other", token=token, iat=NOW)
    assert status({"Authorization": f"DPoP {token}", "DPoP": wrong_url}) == 401
    # With its own proof it is accepted: the id is unknown, as for any other session.
    assert status({"Authorization": f"DPoP {token}", "DPoP": proof}) == 404
    assert status({"Authorization": f"DPoP {token}", "DPoP": proof}) == 401  # replayed


def test_an_unbound_token_at_the_approval_status_route_stays_bearer(broker: Broker) -> None:
    r = _exchange(broker, [FORM])
    token = r.json()["access_token"]
    answer = broker.client.get(
        "/v1/approvals/apr_nothing", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 404
    answer = broker.client.get(
        "/v1/approvals/apr_nothing", headers={"Authorization": f"DPoP {token}"}
    )
    assert answer.status_code == 401
