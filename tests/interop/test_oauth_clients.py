"""Token exchange, refusals, introspection and revocation through authlib and
requests-oauthlib/oauthlib, as an agent's or a resource server's code would call them."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import Client as OAuthlibClient
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from oauthlib.oauth2.rfc6749.parameters import prepare_token_request
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession

from tests.interop.conftest import EXCHANGE, REFUSALS, RESOURCE_SERVER, LiveBroker


@pytest.fixture(autouse=True)
def _plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib's documented switch for a test server without TLS (here: 127.0.0.1).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _authlib(live: LiveBroker, **kw: Any) -> AuthlibSession:
    return AuthlibSession(client_id="claude-code", token_endpoint_auth_method="none", **kw)


class _TokenExchangeClient(OAuthlibClient):  # type: ignore[misc]
    """oauthlib has no RFC 8693 client; this is the few lines a user writes for one (the
    same shape as oauthlib's BackendApplicationClient)."""

    grant_type = EXCHANGE

    def prepare_request_body(
        self, body: str = "", scope: Any = None, include_client_id: bool = False, **kwargs: Any
    ) -> str:
        kwargs["client_id"] = self.client_id
        kwargs["include_client_id"] = include_client_id
        scope = self.scope if scope is None else scope
        return str(prepare_token_request(self.grant_type, body=body, scope=scope, **kwargs))


def _requests_oauthlib(**kw: Any) -> RequestsOAuthlibSession:
    return RequestsOAuthlibSession(client=_TokenExchangeClient("claude-code"), **kw)


def test_authlib_token_exchange(live: LiveBroker) -> None:
    session = _authlib(live, scope="project:read deployment:create")
    token = session.fetch_token(
        f"{live.url}/oauth/token", grant_type=EXCHANGE, **live.exchange_form()
    )
    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == {"project:read", "deployment:create"}
    assert token["expires_in"] > 0
    assert token["access_token"].count(".") == 2


def test_requests_oauthlib_token_exchange(live: LiveBroker) -> None:
    session = _requests_oauthlib(scope=["project:read"])
    token = session.fetch_token(
        f"{live.url}/oauth/token",
        include_client_id=True,
        **live.exchange_form(scope="project:read"),
    )
    assert token["scope"] == ["project:read"]
    assert token["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


@pytest.mark.parametrize(("params", "error"), REFUSALS)
def test_authlib_raises_each_refusal(live: LiveBroker, params: dict[str, str], error: str) -> None:
    with pytest.raises(OAuthError) as raised:
        _authlib(live).fetch_token(
            f"{live.url}/oauth/token", grant_type=EXCHANGE, **live.exchange_form(**params)
        )
    assert raised.value.error == error
    assert raised.value.description


@pytest.mark.parametrize(("params", "error"), REFUSALS)
def test_requests_oauthlib_raises_each_refusal(
    live: LiveBroker, params: dict[str, str], error: str
) -> None:
    with pytest.raises(OAuth2Error) as raised:
        _requests_oauthlib().fetch_token(
            f"{live.url}/oauth/token", include_client_id=True, **live.exchange_form(**params)
        )
    assert raised.value.error == error
    assert raised.value.description


def test_unsupported_grant_type_is_raised(live: LiveBroker) -> None:
    with pytest.raises(OAuthError) as raised:
        _authlib(live).fetch_token(f"{live.url}/oauth/token", grant_type="client_credentials")
    assert raised.value.error == "unsupported_grant_type"


def _issue(live: LiveBroker) -> str:
    token = _authlib(live).fetch_token(
        f"{live.url}/oauth/token", grant_type=EXCHANGE, **live.exchange_form()
    )
    return str(token["access_token"])


def _resource_server(secret: str, method: str) -> AuthlibSession:
    # authlib introspects with the token endpoint's method and revokes with its own.
    return AuthlibSession(
        client_id=RESOURCE_SERVER,
        client_secret=secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_introspects_and_revokes_as_a_resource_server(
    live: LiveBroker, method: str
) -> None:
    rs = _resource_server(live.rs_secret, method)
    token = _issue(live)
    seen = rs.introspect_token(f"{live.url}/oauth/introspect", token=token).json()
    assert seen["active"] is True
    assert seen["scope"]
    assert seen["client_id"] == "claude-code"
    assert rs.revoke_token(f"{live.url}/oauth/revoke", token=token).status_code == 200
    assert rs.introspect_token(f"{live.url}/oauth/introspect", token=token).json() == {
        "active": False
    }


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_resource_server_with_a_wrong_secret_gets_invalid_client(
    live: LiveBroker, method: str
) -> None:
    wrong = live.rs_secret[:-4] + ("AAAA" if not live.rs_secret.endswith("AAAA") else "BBBB")
    rs = _resource_server(wrong, method)
    r = rs.introspect_token(f"{live.url}/oauth/introspect", token=_issue(live))
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].split()[0] == (
        "Basic" if method == "client_secret_basic" else "Bearer"
    )


def test_oauthlib_prepares_revocation_requests_the_broker_accepts(live: LiveBroker) -> None:
    token = _issue(live)
    client = OAuthlibClient(RESOURCE_SERVER)
    url, headers, body = client.prepare_token_revocation_request(
        f"{live.url}/oauth/revoke", token, token_type_hint="access_token"
    )
    r = requests.post(url, data=body, headers=headers, auth=(RESOURCE_SERVER, live.rs_secret))
    assert r.status_code == 200, r.text
    seen = requests.post(
        f"{live.url}/oauth/introspect",
        data={"token": token},
        auth=(RESOURCE_SERVER, live.rs_secret),
        timeout=10,
    ).json()
    assert seen == {"active": False}
