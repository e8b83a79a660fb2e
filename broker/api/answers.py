"""JSON answers of the admin API built from service results, without the framework.

The CLI prints the same values (``broker.cli.render``), so an answer over HTTP and on the
command line cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.domain.explain import Explanation
from broker.services.explain import ExplainQuery
from broker.services.explain import explain as run_explain
from broker.services.signing import SigningKeys

if TYPE_CHECKING:
    from broker.services.container import Services


def explain(services: Services, query: ExplainQuery) -> dict[str, Any]:
    """Run ``query`` on the store and answer it as ``POST /v1/admin/explain`` does."""
    result, context = run_explain(
        services.db,
        services.templates,
        services.issuance,
        query,
        ttl_ceiling=services.settings.max_token_ttl,
    )
    return explanation(result, context)


def explanation(result: Explanation, context: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/admin/explain``: the decision, every failing reason, each step, and what
    was explained (template and version, or the token's jti; the floor's version)."""
    return {
        "decision": result.decision,
        **context,
        "reasons": [r.value for r in result.reasons],
        "steps": [
            {
                "check": s.check,
                "passed": s.passed,
                "reason": s.reason.value if s.reason else None,
                "detail": s.detail,
            }
            for s in result.steps
        ],
    }


def key_listing(keys: SigningKeys, now: float) -> dict[str, Any]:
    """``GET /v1/admin/keys``: every known key, oldest first, with what it does at ``now``."""
    signer = keys.signer().kid
    published = {k["kid"] for k in keys.jwks()["keys"]}  # type: ignore[attr-defined]
    return {
        "keys": [
            {
                "kid": kid,
                "activates_at": at,
                "signing": kid == signer,
                "published": kid in published,
                "pending": at > now,
            }
            for kid, _, at in keys.public_keys()
        ]
    }
