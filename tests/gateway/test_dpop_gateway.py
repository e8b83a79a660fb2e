"""DPoP-bound tokens at the gateway, path mode, as an attacker tries them (RFC 9449 section 7).

Over real sockets, with the permissive upstream behind the gateway: every refusal is a
401 with RFC 9449's challenge, audited with its reason code, and nothing reached the
upstream; an accepted call reaches it with the master key and without the proof. The
proofs are signed by joserfc (tests/support/dpop_client.py), as a user's code would."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from broker.domain.grants import GrantRequest
from broker.manifests import parse_manifest
from tests.gateway.gateway_support import gateway_trail
from tests.support.dpop_client import ProofKey
from tests.support.leakcheck import find_secrets
from tests.support.stack import PERMISSIVE, PERMISSIVE_STAGING, Stack

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def _bound(stack: Stack, key: ProofKey, template: str = "permissive-staging") -> str:
    grant = GrantRequest(template, "staging", dpop_jkt=key.jkt)
    return stack.services.issuance.issue(stack.agent, grant).access_token


def _url(stack: Stack, path: str = "/items") -> str:
    return f"{stack.url}/{PERMISSIVE}{path}"


def _send(
    stack: Stack, headers: list[tuple[str, str]], method: str = "GET", path: str = "/items"
) -> httpx.Response:
    assert stack.permissive is not None
    stack.permissive.clear()
    return httpx.request(method, _url(stack, path), headers=headers, timeout=10)


def _reached(stack: Stack) -> list[Any]:
    assert stack.permissive is not None
    return stack.permissive.received()


def _refused(stack: Stack, r: httpx.Response, token: str, error: str, reason: str) -> None:
    """A 401 with RFC 9449 7.1's challenge, audited with ``reason``; nothing went upstream."""
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith(f'DPoP error="{error}"')
    assert r.json()["code"] == reason
    assert _reached(stack) == []
    jti = stack.gateway.pipeline.authenticator.tokens.verify(token).jti
    [event] = [e for e in gateway_trail(stack, jti) if e["outcome"] == "denied"][-1:]
    assert event["reason"] == reason
    text = json.dumps(event)
    assert token not in text
    assert not find_secrets(text)
    assert "dpop+jwt" not in text


def test_a_bound_token_with_its_proof_goes_through_without_the_proof(
    permissive_stack: Stack,
) -> None:
    key = ProofKey()
    token = _bound(permissive_stack, key)
    proof = key.proof("GET", _url(permissive_stack), token=token)
    r = _send(permissive_stack, [("Authorization", f"DPoP {token}"), ("DPoP", proof)])
    assert r.status_code == 200, r.text
    [seen] = _reached(permissive_stack)
    assert seen.header("x-api-key") == permissive_stack.permissive_key  # the master key went in
    assert seen.header("dpop") is None  # the provider never sees the proof
    assert seen.header("authorization") is None
    assert token not in seen.raw.decode("latin-1")
    assert proof not in seen.raw.decode("latin-1")


def test_the_query_is_not_part_of_htu(permissive_stack: Stack) -> None:
    key = ProofKey("Ed25519")
    token = _bound(permissive_stack, key)
    proof = key.proof("GET", _url(permissive_stack), token=token)
    r = _send(
        permissive_stack,
        [("Authorization", f"DPoP {token}"), ("DPoP", proof)],
        path="/items?page=2",
    )
    assert r.status_code == 200, r.text


def test_a_replayed_proof_is_refused(permissive_stack: Stack) -> None:
    key = ProofKey()
    token = _bound(permissive_stack, key)
    headers = [
        ("Authorization", f"DPoP {token}"),
        ("DPoP", key.proof("GET", _url(permissive_stack), token=token)),
    ]
    assert _send(permissive_stack, headers).status_code == 200
    r = _send(permissive_stack, headers)
    _refused(permissive_stack, r, token, "invalid_dpop_proof", "invalid_dpop_proof")


@pytest.mark.parametrize(
    "case",
    [
        "another-url",
        "another-provider-path",
        "another-method",
        "no-ath",
        "ath-of-another-token",
        "old-iat",
        "future-iat",
        "no-proof",
        "two-proofs",
        "not-a-jwt",
    ],
)
def test_a_proof_not_for_this_call_is_refused(permissive_stack: Stack, case: str) -> None:
    key = ProofKey()
    token = _bound(permissive_stack, key)
    url = _url(permissive_stack)
    now = int(time.time())
    proofs = {
        "another-url": [key.proof("GET", _url(permissive_stack, "/echo-key"), token=token)],
        "another-provider-path": [key.proof("GET", f"{permissive_stack.url}/items", token=token)],
        "another-method": [key.proof("POST", url, token=token)],
        "no-ath": [key.proof("GET", url)],
        "ath-of-another-token": [key.proof("GET", url, token=_bound(permissive_stack, key))],
        "old-iat": [key.proof("GET", url, token=token, iat=now - 600)],
        "future-iat": [key.proof("GET", url, token=token, iat=now + 600)],
        "no-proof": [],
        "two-proofs": [key.proof("GET", url, token=token), key.proof("GET", url, token=token)],
        "not-a-jwt": ["a.b.c"],
    }[case]
    headers = [("Authorization", f"DPoP {token}"), *(("DPoP", p) for p in proofs)]
    r = _send(permissive_stack, headers)
    _refused(permissive_stack, r, token, "invalid_dpop_proof", "invalid_dpop_proof")


def test_a_proof_signed_by_another_key_is_refused(permissive_stack: Stack) -> None:
    """The thief has the token, not the key: a valid proof by their own key is no use."""
    token = _bound(permissive_stack, ProofKey())
    thief = ProofKey()
    proof = thief.proof("GET", _url(permissive_stack), token=token)
    r = _send(permissive_stack, [("Authorization", f"DPoP {token}"), ("DPoP", proof)])
    _refused(permissive_stack, r, token, "invalid_token", "dpop_binding_mismatch")


@pytest.mark.parametrize("with_proof", [False, True])
def test_a_stolen_bound_token_used_as_bearer_is_refused(
    permissive_stack: Stack, with_proof: bool
) -> None:
    key = ProofKey()
    token = _bound(permissive_stack, key)
    headers = [("Authorization", f"Bearer {token}")]
    if with_proof:
        headers.append(("DPoP", key.proof("GET", _url(permissive_stack), token=token)))
    r = _send(permissive_stack, headers)
    _refused(permissive_stack, r, token, "invalid_token", "dpop_binding_mismatch")


def test_an_unbound_token_works_as_bearer_and_is_refused_as_dpop(permissive_stack: Stack) -> None:
    token = permissive_stack.permissive_token()
    assert _send(permissive_stack, [("Authorization", f"Bearer {token}")]).status_code == 200
    key = ProofKey()
    proof = key.proof("GET", _url(permissive_stack), token=token)
    r = _send(permissive_stack, [("Authorization", f"DPoP {token}"), ("DPoP", proof)])
    _refused(permissive_stack, r, token, "invalid_token", "dpop_binding_mismatch")


def test_with_a_public_url_htu_names_it_and_not_the_host_header(permissive_stack: Stack) -> None:
    """Behind a reverse proxy the gateway is addressed by its public URL, which the Host
    header the gateway sees does not tell; gateway_public_url does."""
    key = ProofKey()
    token = _bound(permissive_stack, key)
    gateway = permissive_stack.gateway
    gateway.public_url = "https://gateway.example.com/capbroker/"
    try:
        public = f"https://gateway.example.com/capbroker/{PERMISSIVE}/items"
        local = key.proof("GET", _url(permissive_stack), token=token)
        r = _send(permissive_stack, [("Authorization", f"DPoP {token}"), ("DPoP", local)])
        _refused(permissive_stack, r, token, "invalid_dpop_proof", "invalid_dpop_proof")
        proof = key.proof("GET", public, token=token)
        r = _send(permissive_stack, [("Authorization", f"DPoP {token}"), ("DPoP", proof)])
        assert r.status_code == 200, r.text
    finally:
        gateway.public_url = ""


def test_a_template_that_newly_requires_dpop_stops_its_unbound_live_tokens(
    permissive_stack: Stack,
) -> None:
    doc = json.loads(json.dumps(PERMISSIVE_STAGING))
    doc["metadata"]["name"] = "permissive-later-dpop"
    services = permissive_stack.services
    services.templates.apply([parse_manifest(doc, "t#a")], actor="test", dry_run=False)
    key = ProofKey()
    unbound = services.issuance.issue(
        permissive_stack.agent, GrantRequest("permissive-later-dpop", "staging")
    ).access_token
    bound = _bound(permissive_stack, key, "permissive-later-dpop")
    assert _send(permissive_stack, [("Authorization", f"Bearer {unbound}")]).status_code == 200
    doc["spec"]["require_dpop"] = True
    services.templates.apply([parse_manifest(doc, "t#b")], actor="test", dry_run=False)
    feed = permissive_stack.gateway.feed
    deadline = time.monotonic() + 10
    while (current := feed.revocations.templates.get("permissive-later-dpop")) is None or (
        current.version < 2
    ):
        assert time.monotonic() < deadline, "the template feed did not update"
        time.sleep(0.05)
    r = _send(permissive_stack, [("Authorization", f"Bearer {unbound}")])
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "dpop_binding_mismatch"
    assert _reached(permissive_stack) == []
    proof = key.proof("GET", _url(permissive_stack), token=bound)
    r = _send(permissive_stack, [("Authorization", f"DPoP {bound}"), ("DPoP", proof)])
    assert r.status_code == 200, r.text
