"""Delegation (RFC 8693, a capability token as subject_token) through authlib and
requests-oauthlib, as an agent's code hands a narrower token to a sub-agent; a refusal is
raised as each library's error with the registered ``error``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from broker.manifests import parse_manifest
from tests.interop.conftest import AGENT_CREDENTIAL, EXCHANGE, LiveBroker, live_broker
from tests.interop.test_oauth_clients import _requests_oauthlib
from tests.support.broker_app import STAGING_TEMPLATE
from tests.support.factories import template_doc

ACCESS = "urn:ietf:params:oauth:token-type:access_token"
DELEGATING = template_doc(
    "staging-agent", **{**STAGING_TEMPLATE["spec"], "delegation": {"max_depth": 1}}
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    for broker in live_broker(tmp_path_factory.mktemp("delegation-interop")):
        broker.services.templates.apply(
            [parse_manifest(DELEGATING, "t#deleg")], actor="admin:test", dry_run=False
        )
        yield broker


@pytest.fixture(autouse=True)
def _plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _parent(live: LiveBroker) -> dict[str, Any]:
    session = AuthlibSession(client_id="claude-code", token_endpoint_auth_method="none")
    token: dict[str, Any] = session.fetch_token(
        f"{live.url}/oauth/token", grant_type=EXCHANGE, **live.exchange_form()
    )
    return token


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_authlib_delegates_a_narrower_token(live: LiveBroker) -> None:
    parent = _parent(live)
    session = AuthlibSession(
        client_id="claude-code", token_endpoint_auth_method="none", scope="project:read"
    )
    child = session.fetch_token(
        f"{live.url}/oauth/token",
        grant_type=EXCHANGE,
        subject_token=parent["access_token"],
        subject_token_type=ACCESS,
        expires_in="60",
    )
    assert child["scope"] == "project:read"
    assert child["issued_token_type"] == ACCESS
    assert child["expires_in"] == 60
    claims = _claims(child["access_token"])
    assert claims["act"]["client_id"] == "claude-code"
    assert claims["delegation"]["parent"] == _claims(parent["access_token"])["jti"]


def test_requests_oauthlib_delegates_a_narrower_token(live: LiveBroker) -> None:
    parent = _parent(live)
    child = _requests_oauthlib(scope=["project:read"]).fetch_token(
        f"{live.url}/oauth/token",
        include_client_id=True,
        subject_token=parent["access_token"],
        subject_token_type=ACCESS,
        scope="project:read",
    )
    assert child["scope"] == ["project:read"]
    assert _claims(child["access_token"])["sub"] == _claims(parent["access_token"])["sub"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"scope": "project:read volume:read"}, "invalid_scope"),
        ({"environment": "preview"}, "invalid_authorization_details"),
        ({"expires_in": "100000"}, "invalid_request"),
        ({"actor_token": "x", "actor_token_type": ACCESS}, "invalid_request"),
        (
            {
                "actor_token": "capb_agt_" + "0" * 24 + "_" + "A" * 43,
                "actor_token_type": AGENT_CREDENTIAL,
            },
            "invalid_grant",
        ),
    ],
)
def test_each_refusal_is_raised_by_both_libraries(
    live: LiveBroker, params: dict[str, str], error: str
) -> None:
    parent = _parent(live)["access_token"]
    form = {"subject_token": parent, "subject_token_type": ACCESS, **params}
    with pytest.raises(OAuthError) as raised:
        AuthlibSession(client_id="claude-code", token_endpoint_auth_method="none").fetch_token(
            f"{live.url}/oauth/token", grant_type=EXCHANGE, **form
        )
    assert raised.value.error == error
    with pytest.raises(OAuth2Error) as raised_too:
        _requests_oauthlib().fetch_token(f"{live.url}/oauth/token", include_client_id=True, **form)
    assert raised_too.value.error == error


def test_a_child_cannot_be_delegated_past_the_templates_depth(live: LiveBroker) -> None:
    parent = _parent(live)["access_token"]
    session = AuthlibSession(client_id="claude-code", token_endpoint_auth_method="none")
    child = session.fetch_token(
        f"{live.url}/oauth/token",
        grant_type=EXCHANGE,
        subject_token=parent,
        subject_token_type=ACCESS,
    )
    with pytest.raises(OAuthError) as raised:
        session.fetch_token(
            f"{live.url}/oauth/token",
            grant_type=EXCHANGE,
            subject_token=child["access_token"],
            subject_token_type=ACCESS,
        )
    assert raised.value.error == "invalid_grant"
