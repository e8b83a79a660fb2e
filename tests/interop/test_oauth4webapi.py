"""A strict JavaScript client, oauth4webapi (panva; tests/interop/node, pinned by its lock
file, installed by `make system-deps`), against a live broker over a real socket, as a
user's Node code would call it: RFC 8414 discovery, RFC 8693 exchange, each refusal as the
library's ResponseBodyError with its `error`, RFC 7662 introspection and RFC 7009
revocation with client_secret_basic and client_secret_post, and RFC 9068
validateJwtAccessToken for each signing algorithm.

oauth4webapi refuses http endpoints; the broker here is plain http on 127.0.0.1, its issuer
the socket's own URL (the metadata's endpoints must reach it), and every call passes the
library's documented test switch `allowInsecureRequests`. Nothing else is relaxed."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import EXCHANGE, REFUSALS, RESOURCE_SERVER, LiveBroker, live_broker

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "oauth_client.mjs"
AUTH_METHODS = {"client_secret_basic": "basic", "client_secret_post": "post"}
# signing_algorithm -> the JWS alg its tokens carry
ALGORITHMS = {"Ed25519": "EdDSA", "ES256": "ES256", "RS256": "RS256"}


def node(live: LiveBroker, step: str, **job: Any) -> dict[str, Any]:
    """One oauth4webapi step; the job (with any secret) goes on stdin, not argv."""
    if not (NODE_DIR / "node_modules" / "oauth4webapi").is_dir():  # `make system-deps`
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps({"issuer": live.issuer, "step": step, **job}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    yield from live_broker(tmp_path_factory.mktemp("oauth4webapi"), issuer=None)


@pytest.fixture(scope="module", params=list(ALGORITHMS))
def signed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveBroker, str]]:
    tmp = tmp_path_factory.mktemp(f"oauth4webapi-{request.param}")
    for broker in live_broker(tmp, signing_algorithm=request.param, issuer=None):
        yield broker, ALGORITHMS[request.param]


def exchange(live: LiveBroker, **params: str) -> dict[str, Any]:
    return node(live, "exchange", parameters=live.exchange_form(**params))


def issue(live: LiveBroker, **params: str) -> str:
    answer = exchange(live, **params)
    assert "ok" in answer, answer
    return str(answer["ok"]["access_token"])


def test_discovery_is_accepted(live: LiveBroker) -> None:
    answer = node(live, "discover")
    assert "ok" in answer, answer
    metadata = answer["ok"]
    assert metadata["issuer"] == live.issuer
    assert metadata["token_endpoint"] == f"{live.url}/oauth/token"
    assert EXCHANGE in metadata["grant_types_supported"]
    for endpoint in ("introspection", "revocation"):
        methods = metadata[f"{endpoint}_endpoint_auth_methods_supported"]
        assert set(AUTH_METHODS) <= set(methods)


def test_discovery_refuses_another_issuer(live: LiveBroker) -> None:
    """The library's own check (RFC 8414 section 3.3), held against this broker: metadata
    fetched for one issuer but naming another is refused."""
    other = LiveBroker(
        live.url.replace("127.0.0.1", "localhost"),
        live.services,
        live.agent,
        live.admin,
        live.rs_secret,
        issuer=live.url.replace("127.0.0.1", "localhost"),
    )
    answer = node(other, "discover")
    assert answer["raised"]["code"] == "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED", answer


def test_token_exchange(live: LiveBroker) -> None:
    answer = exchange(live, scope="project:read deployment:create")
    assert "ok" in answer, answer
    token = answer["ok"]
    assert token["token_type"] == "bearer"  # the library lower-cases it
    assert set(token["scope"].split()) == {"project:read", "deployment:create"}
    assert token["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert token["expires_in"] > 0
    assert token["access_token"].count(".") == 2


@pytest.mark.parametrize(("params", "error"), REFUSALS)
def test_each_refusal_is_a_response_body_error(
    live: LiveBroker, params: dict[str, str], error: str
) -> None:
    answer = exchange(live, **params)
    raised = answer.get("raised")
    assert raised, answer
    assert raised["name"] == "ResponseBodyError", raised
    assert raised["error"] == error
    assert raised["error_description"]
    assert 400 <= raised["status"] < 500
    assert live.agent not in json.dumps(answer)


def test_unsupported_grant_type_is_a_response_body_error(live: LiveBroker) -> None:
    raised = node(live, "client_credentials")["raised"]
    assert raised["name"] == "ResponseBodyError", raised
    assert raised["error"] == "unsupported_grant_type"
    assert raised["status"] == 400


@pytest.mark.parametrize("method", list(AUTH_METHODS))
def test_introspection_and_revocation_as_a_resource_server(live: LiveBroker, method: str) -> None:
    rs = {"auth": AUTH_METHODS[method], "client_id": RESOURCE_SERVER, "secret": live.rs_secret}
    token = issue(live, scope="project:read")
    seen = node(live, "introspect", token=token, **rs)
    assert "ok" in seen, seen
    assert seen["ok"]["active"] is True
    assert seen["ok"]["scope"] == "project:read"
    assert seen["ok"]["client_id"] == "claude-code"
    assert seen["ok"]["iss"] == live.issuer
    revoked = node(live, "revoke", token=token, **rs)
    assert revoked == {"ok": {"revoked": True}}
    assert node(live, "introspect", token=token, **rs) == {"ok": {"active": False}}


@pytest.mark.parametrize("method", list(AUTH_METHODS))
def test_hinted_and_unknown_tokens(live: LiveBroker, method: str) -> None:
    """RFC 7009 2.2 and RFC 7662 2.2: a token the server does not know is "active": false
    to introspection and a 200 to revocation; token_type_hint is accepted."""
    rs = {"auth": AUTH_METHODS[method], "client_id": RESOURCE_SERVER, "secret": live.rs_secret}
    token = issue(live)
    hinted = node(live, "introspect", token=token, hint="access_token", **rs)
    assert hinted["ok"]["active"] is True, hinted
    unknown = "eyJhbGciOiJFZERTQSJ9.e30.AAAA"
    assert node(live, "introspect", token=unknown, **rs) == {"ok": {"active": False}}
    assert node(live, "revoke", token=unknown, hint="access_token", **rs) == {
        "ok": {"revoked": True}
    }
    assert node(live, "revoke", token=token, hint="refresh_token", **rs) == {
        "ok": {"revoked": True}
    }
    assert node(live, "introspect", token=token, **rs) == {"ok": {"active": False}}


@pytest.mark.parametrize("method", list(AUTH_METHODS))
def test_a_wrong_client_secret_is_refused_as_invalid_client(live: LiveBroker, method: str) -> None:
    wrong = live.rs_secret[:-4] + ("AAAA" if not live.rs_secret.endswith("AAAA") else "BBBB")
    rs = {"auth": AUTH_METHODS[method], "client_id": RESOURCE_SERVER, "secret": wrong}
    raised = node(live, "introspect", token=issue(live), **rs)["raised"]
    # A 401 with a WWW-Authenticate challenge in the scheme the client used (RFC 6749 5.2;
    # Bearer, capbroker's own credential scheme, when it used none): oauth4webapi raises
    # the challenge (WWWAuthenticateChallengeError) before it reads the body.
    assert raised["name"] == "WWWAuthenticateChallengeError", raised
    assert raised["status"] == 401
    (challenge,) = raised["challenges"]
    assert challenge["scheme"] == ("basic" if method == "client_secret_basic" else "bearer")
    assert raised["body"]["error"] == "invalid_client"
    assert raised["body"]["error_description"]
    assert wrong not in json.dumps(raised)


def test_validate_jwt_access_token_for_each_algorithm(signed: tuple[LiveBroker, str]) -> None:
    live, alg = signed
    token = issue(live, scope="project:read")
    answer = node(live, "validate", token=token, audience=live.audience, algorithms=[alg])
    assert "ok" in answer, answer
    claims = answer["ok"]
    assert claims["iss"] == live.issuer
    assert claims["aud"] == live.audience or live.audience in claims["aud"]
    assert claims["scope"] == "project:read"
    assert claims["client_id"] == "claude-code"
    assert claims["authorization_details"][0]["actions"] == ["project:read"]
    # RFC 7662 and RFC 9068 agree: introspection says what the validated token says.
    rs = {"auth": "basic", "client_id": RESOURCE_SERVER, "secret": live.rs_secret}
    seen = node(live, "introspect", token=token, **rs)["ok"]
    assert seen["active"] is True
    assert {k: seen[k] for k in claims} == claims


def test_validate_jwt_access_token_with_the_libraries_default_algorithms(
    signed: tuple[LiveBroker, str],
) -> None:
    """No algorithm list: the library takes what it supports by default."""
    live, _ = signed
    answer = node(live, "validate", token=issue(live), audience=live.audience)
    assert "ok" in answer, answer


def test_validate_jwt_access_token_refuses_a_wrong_audience_and_a_tampered_token(
    signed: tuple[LiveBroker, str],
) -> None:
    live, alg = signed
    token = issue(live)
    wrong = node(live, "validate", token=token, audience="elsewhere", algorithms=[alg])
    assert wrong["raised"]["code"] == "OAUTH_JWT_CLAIM_COMPARISON_FAILED", wrong
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "project:read volume:delete"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = node(
        live, "validate", token=f"{head}.{forged}.{sig}", audience=live.audience, algorithms=[alg]
    )
    assert tampered["raised"]["message"] == "JWT signature verification failed", tampered


def test_an_ed25519_token_needs_the_eddsa_name_in_signing_algorithms(live: LiveBroker) -> None:
    """capbroker writes `EdDSA` (docs/tokens.md#algorithms, decision 0021): an oauth4webapi
    user who lists only RFC 9864's `Ed25519` is refused, one who lists both is not. Checked,
    so the docs are told when that changes."""
    token = issue(live)
    only_new = node(live, "validate", token=token, audience=live.audience, algorithms=["Ed25519"])
    assert only_new["raised"]["message"] == 'unexpected JWT "alg" header parameter', only_new
    both = node(
        live, "validate", token=token, audience=live.audience, algorithms=["EdDSA", "Ed25519"]
    )
    assert "ok" in both, both
