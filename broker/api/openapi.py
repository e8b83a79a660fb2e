"""The published OpenAPI document, completed to match what is served. Pure.

Handlers read their bodies themselves (strict decoding, ``broker.api.wire``), so Litestar
cannot see them; this adds each request body, the security schemes, the error shapes
(problem+json under ``/v1/``, RFC 6749 errors under ``/oauth/``) and the media types as
sent (the JWKS as ``application/jwk-set+json``, HEAD without content).
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from broker.api.schemas import (
    ExplainRequest,
    KillEngage,
    ManifestApply,
    PrincipalCreate,
    TokenRequest,
)
from broker.api.wire import MAX_FORM_FIELDS

JSON, PROBLEM, FORM = (
    "application/json",
    "application/problem+json",
    "application/x-www-form-urlencoded",
)
JWKS = "application/jwk-set+json"
_REF = "#/components/schemas/{name}"
_JSON_BODIES: dict[tuple[str, str], type] = {
    ("post", "/v1/tokens"): TokenRequest,
    ("post", "/v1/admin/manifests"): ManifestApply,
    ("post", "/v1/admin/{kind}"): PrincipalCreate,
    ("post", "/v1/admin/explain"): ExplainRequest,
    ("post", "/v1/admin/kills"): KillEngage,
}
_STRING = {"type": "string"}
_CLIENT_POST = {"client_id": _STRING, "client_secret": _STRING}
# private_key_jwt (RFC 7523 2.2): OpenAPI has no security scheme for it; the form says it.
_CLIENT_ASSERTION = {
    "client_assertion_type": {
        "type": "string",
        "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
    },
    "client_assertion": {
        "type": "string",
        "description": "a JWT signed by a key registered for the resource server (iss = sub"
        " = client_id, aud = the issuer or this endpoint's URL, exp, jti used once)",
    },
}
_TOKEN_PARAMS = {
    "token": _STRING,
    "token_type_hint": _STRING,
    **_CLIENT_POST,
    **_CLIENT_ASSERTION,
}
_FORMS: dict[str, dict[str, Any]] = {
    "/oauth/token": {
        "properties": {
            name: _STRING
            for name in (
                "grant_type",
                "subject_token",
                "subject_token_type",
                "requested_token_type",
                "template",
                "environment",
                "scope",
                "expires_in",
                "session_id",
                "authorization_details",
                "audience",
                "resource",
                "client_id",
                "actor_token",  # delegation (RFC 8693): the sub-agent's credential
                "actor_token_type",
            )
        },
        "required": ["grant_type", "subject_token", "subject_token_type"],
    },
    "/oauth/introspect": {"properties": _TOKEN_PARAMS, "required": ["token"]},
    "/oauth/revoke": {"properties": _TOKEN_PARAMS, "required": ["token"]},
}
SECURITY_SCHEMES = {
    "adminCredential": {"type": "http", "scheme": "bearer", "description": "capb_adm_..."},
    "agentCredential": {"type": "http", "scheme": "bearer", "description": "capb_agt_..."},
    "capabilityToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "clientSecretBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "RFC 6749 2.3.1: a resource server's client_id and its capb_rs_ secret",
    },
}
_ANYONE: list[dict[str, list[str]]] = []
# {}: client_secret_post or private_key_jwt, the credentials in the form body
_CLIENTS: list[dict[str, list[str]]] = [
    {"clientSecretBasic": []},
    {"agentCredential": []},
    {"adminCredential": []},
    {},
]
_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details with capbroker's stable reason code",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
    },
}
_OAUTH_ERROR_SCHEMA = {
    "type": "object",
    "description": "RFC 6749 section 5.2 error; code is capbroker's reason code",
    "required": ["error", "error_description", "code"],
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "code": {"type": "string"},
    },
}
_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Authenticated without the role",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    500: "Internal error",
    503: "A dependency is unavailable",
}


def _security(path: str) -> list[dict[str, list[str]]] | None:
    if path.startswith("/v1/admin/"):
        return [{"adminCredential": []}]
    if path == "/v1/tokens":
        return [{"agentCredential": []}]
    if path.startswith("/v1/sessions/"):
        return [{"agentCredential": []}, {"adminCredential": []}]
    if path.startswith("/v1/approvals/"):
        return [{"capabilityToken": []}]
    if path in ("/oauth/introspect", "/oauth/revoke"):
        return _CLIENTS
    if path == "/oauth/token" or path.startswith("/.well-known/"):
        return _ANYONE
    return None  # health: no credentials, not even optional ones


def _statuses(method: str, path: str, op: dict[str, Any]) -> list[int]:
    if path in ("/healthz", "/readyz") or method == "head":
        return []
    found = {500, 503}
    if op.get("parameters") or "requestBody" in op:
        found.add(400)
    if "requestBody" in op:
        found |= {413} | ({400} if path.startswith("/oauth/") else {415})
    if path.startswith("/v1/"):
        found |= {401, 403, 404}
        if method == "post":
            found.add(409)
    if path in ("/oauth/introspect", "/oauth/revoke"):
        found.add(401)
    if path == "/oauth/token":
        found |= {401, 403}
    return sorted(found)


def _error_response(status: int, path: str) -> dict[str, Any]:
    oauth = path.startswith("/oauth/")
    name = "OAuthError" if oauth else "Problem"
    return {
        "description": _DESCRIPTIONS[status],
        "content": {(JSON if oauth else PROBLEM): {"schema": {"$ref": _REF.format(name=name)}}},
    }


def _body(method: str, path: str) -> dict[str, Any] | None:
    kind = _JSON_BODIES.get((method, path))
    if kind is not None:
        ref = {"$ref": _REF.format(name=kind.__name__)}
        return {"required": True, "content": {JSON: {"schema": ref}}}
    if method == "post" and path in _FORMS:
        schema = {"type": "object", "maxProperties": MAX_FORM_FIELDS, **_FORMS[path]}
        return {"required": True, "content": {FORM: {"schema": schema}}}
    return None


# RFC 9449 5: an optional proof at the token endpoints binds the token (docs/tokens.md).
_DPOP_PARAMETER = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 8192},
    "description": "A DPoP proof (RFC 9449) for POST and this endpoint under the issuer;"
    " the token is then bound to its key (cnf.jkt, token_type DPoP)",
}
_DPOP_PATHS = frozenset({"/oauth/token", "/v1/tokens"})


def _complete_operation(method: str, path: str, op: dict[str, Any]) -> None:
    body = _body(method, path)
    if body is not None:
        op["requestBody"] = body
    if method == "post" and path in _DPOP_PATHS:
        op.setdefault("parameters", []).append(dict(_DPOP_PARAMETER))
    security = _security(path)
    if security is not None:
        op["security"] = security
    responses: dict[str, Any] = op.setdefault("responses", {})
    for litestar_error in [s for s in responses if s.startswith(("4", "5"))]:
        del responses[litestar_error]  # Litestar's own error shape, not what is served
    for status in _statuses(method, path, op):
        responses[str(status)] = _error_response(status, path)
    if path == "/readyz":
        responses["503"] = {"description": "Not ready", "content": responses["200"]["content"]}
    for answer in (r for s, r in responses.items() if s.startswith("2")):
        if method == "head":
            answer.pop("content", None)
        elif path == "/.well-known/jwks.json" and "content" in answer:
            answer["content"] = {JWKS: next(iter(answer["content"].values()))}


def complete(generated: dict[str, Any]) -> dict[str, Any]:
    """The document Litestar generated, completed; the input is left unchanged."""
    doc = copy.deepcopy(generated)
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if isinstance(op, dict) and method in ("get", "post", "head", "put", "delete"):
                _complete_operation(method, path, op)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _, structs = msgspec.json.schema_components(list(_JSON_BODIES.values()), ref_template=_REF)
    schemas.update(structs)
    schemas["Problem"] = _PROBLEM_SCHEMA
    schemas["OAuthError"] = _OAUTH_ERROR_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    return doc
