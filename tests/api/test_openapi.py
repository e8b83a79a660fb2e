"""The published OpenAPI document describes bodies, security, errors and media types as
served (broker/api/openapi.py); schemathesis holds the live broker to it (tests/interop)."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from tests.support.broker_app import Broker


def _doc(broker: Broker) -> dict[str, Any]:
    r = broker.client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def test_the_document_is_valid_openapi(broker: Broker) -> None:
    validate(_doc(broker))  # type: ignore[arg-type]


def test_every_body_and_security_scheme_is_described(broker: Broker) -> None:
    doc = _doc(broker)
    paths = doc["paths"]
    for path in ("/v1/tokens", "/v1/admin/manifests", "/v1/admin/explain", "/v1/admin/kills"):
        assert "application/json" in paths[path]["post"]["requestBody"]["content"], path
    for path in ("/oauth/token", "/oauth/introspect", "/oauth/revoke"):
        body = paths[path]["post"]["requestBody"]["content"]
        assert list(body) == ["application/x-www-form-urlencoded"], path
    schemes = doc["components"]["securitySchemes"]
    assert schemes["clientSecretBasic"] == {**schemes["clientSecretBasic"], "scheme": "basic"}
    assert paths["/v1/admin/keys"]["get"]["security"] == [{"adminCredential": []}]
    assert {} in paths["/oauth/introspect"]["post"]["security"]  # client_secret_post
    assert paths["/oauth/token"]["post"]["security"] == []


def test_errors_and_media_types_are_as_served(broker: Broker) -> None:
    doc = _doc(broker)
    paths = doc["paths"]
    v1_error = paths["/v1/admin/templates"]["get"]["responses"]["401"]["content"]
    assert list(v1_error) == ["application/problem+json"]
    oauth_error = paths["/oauth/token"]["post"]["responses"]["400"]["content"]
    assert list(oauth_error) == ["application/json"]
    assert oauth_error["application/json"]["schema"]["$ref"].endswith("/OAuthError")
    jwks = paths["/.well-known/jwks.json"]["get"]["responses"]["200"]["content"]
    assert list(jwks) == ["application/jwk-set+json"]
    served = broker.client.get("/.well-known/jwks.json").headers["content-type"]
    assert served.startswith("application/jwk-set+json")
    assert "content" not in paths["/.well-known/jwks.json"]["head"]["responses"]["200"]
