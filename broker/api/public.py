"""What any verifier reads: the JWKS, authorization server metadata (RFC 8414), health."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

from broker.services.container import Services
from broker.store import migrate


class PublicController(Controller):
    tags = ["discovery"]

    @get("/.well-known/jwks.json", sync_to_thread=False)
    def jwks(self, services: Services) -> Response[Any]:
        # Short cache: a rotated key is published propagation_delay before it signs.
        max_age = max(1, min(60, services.settings.key_propagation_delay // 5))
        return Response(
            services.keys.jwks(),
            media_type="application/jwk-set+json",
            headers={"Cache-Control": f"public, max-age={max_age}"},
        )

    @get("/.well-known/oauth-authorization-server", sync_to_thread=False)
    def metadata(self, services: Services) -> dict[str, Any]:
        issuer = services.settings.effective_issuer
        return {
            "issuer": issuer,
            "token_endpoint": f"{issuer}/oauth/token",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "revocation_endpoint": f"{issuer}/oauth/revoke",
            "introspection_endpoint": f"{issuer}/oauth/introspect",
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["bearer"],
            "introspection_endpoint_auth_methods_supported": ["bearer"],
            "authorization_details_types_supported": ["capbroker_capability"],
            "response_types_supported": [],
            "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
            "service_documentation": f"{issuer}/schema",
        }

    @get("/healthz", sync_to_thread=False)
    def healthz(self) -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @get("/readyz", sync_to_thread=False)
    def readyz(self, services: Services) -> Response[dict[str, Any]]:
        """Readiness: the database is at the newest schema, a signing key is usable, and the
        secret backend and the signer (Vault KV, Vault Transit) answer live calls."""
        checks: dict[str, str] = {}
        try:
            # One compatible step ahead is ready: expand-then-contract (broker.store.migrate).
            checks["database"] = migrate.readiness(services.db.engine)
        except Exception as exc:  # any fault means not ready; the type is enough to report
            checks["database"] = f"unavailable ({type(exc).__name__})"
        try:
            services.keys.signer()
            checks["signing_key"] = "ok"
        except Exception as exc:
            checks["signing_key"] = f"unavailable ({type(exc).__name__})"
        checks.update(services.reachability())
        ready = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )
