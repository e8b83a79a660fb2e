"""What any verifier reads: the JWKS, authorization server metadata (RFC 8414), health."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get, head

from broker.api.client_auth import CLIENT_AUTH_METHODS
from broker.services.container import Services
from broker.tokens import ALGORITHMS, jose_names


class PublicController(Controller):
    tags = ["discovery"]

    @get("/.well-known/jwks.json", sync_to_thread=False)
    def jwks(self, services: Services) -> Response[Any]:
        return _jwks(services)

    @get("/.well-known/oauth-authorization-server", sync_to_thread=False)
    def metadata(self, services: Services) -> dict[str, Any]:
        return _metadata(services)

    # RFC 9110 9.3.2: HEAD answers as GET would, without the body.
    @head("/.well-known/jwks.json", sync_to_thread=False)
    def jwks_head(self, services: Services) -> Response[None]:
        return _headers_only(_jwks(services))

    @head("/.well-known/oauth-authorization-server", sync_to_thread=False)
    def metadata_head(self, services: Services) -> Response[None]:
        return _headers_only(Response(_metadata(services)))

    @get("/healthz", sync_to_thread=False)
    def healthz(self) -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @get("/readyz", sync_to_thread=False)
    def readyz(self, services: Services) -> Response[dict[str, Any]]:
        """Readiness: the database is at the newest schema, a signing key is usable, and the
        secret backend and the signer (Vault KV, Vault Transit) answer. In a server these
        are the background checks' last outcomes (broker.services.health), so the answer
        takes milliseconds whatever the dependencies do."""
        checks = services.readiness()
        ready = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )


def _jwks(services: Services) -> Response[Any]:
    # Short cache: a rotated key is published propagation_delay before it signs.
    max_age = max(1, min(60, services.settings.key_propagation_delay // 5))
    return Response(
        services.keys.jwks(),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )


def _metadata(services: Services) -> dict[str, Any]:
    issuer = services.settings.effective_issuer
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        # The agent authenticates with subject_token; no client authentication there.
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        # private_key_jwt is offered there: the algorithms its assertions may be signed with.
        "revocation_endpoint_auth_signing_alg_values_supported": _assertion_algs(services),
        "introspection_endpoint_auth_signing_alg_values_supported": _assertion_algs(services),
        "authorization_details_types_supported": ["capbroker_capability"],
        # RFC 9449 5.1: what a DPoP proof may be signed with (both names of Ed25519).
        "dpop_signing_alg_values_supported": jose_names(ALGORITHMS),
        # No authorization endpoint: "none" (OAuth 2.0 Multiple Response Types) says so.
        "response_types_supported": ["none"],
        "service_documentation": f"{issuer}/schema",
    }


def _assertion_algs(services: Services) -> list[str]:
    return jose_names(services.client_assertions.algorithms)


def _headers_only(full: Response[Any]) -> Response[None]:
    """The GET answer's headers; Content-Length is what GET would send (RFC 9110 8.6)."""
    length = len(msgspec.json.encode(full.content))
    return Response(
        None,
        media_type=full.media_type,
        headers={**full.headers, "Content-Length": str(length)},
    )
