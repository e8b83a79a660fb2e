"""Wire schemas: what the HTTP surface accepts and answers. Unknown fields are refused."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
ActionText = Annotated[str, msgspec.Meta(min_length=3, max_length=128)]
Environment = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]  # may be qualified


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    template: Name
    environment: Environment
    actions: Annotated[list[ActionText], msgspec.Meta(min_length=1, max_length=200)] | None = None
    ttl: Annotated[int, msgspec.Meta(ge=1, le=86400)] | None = None
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    # A token whose every call the gateway only evaluates and records, never forwards.
    dry_run: bool = False


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    session_id: str
    jti: str
    template: str
    template_version: int
    environment: str
    actions: list[str]
    authorization_details: list[dict[str, Any]]


class SessionEnded(msgspec.Struct):
    session_id: str
    tokens_revoked: int


class PrincipalCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""
    # Resource servers only: public keys for private_key_jwt (RFC 7517 JWKS, public members
    # only, each key with a kid), and whether a secret is made too.
    jwks: dict[str, Any] | None = None
    with_secret: bool = True


class ManifestApply(msgspec.Struct, forbid_unknown_fields=True):
    """One or more manifests (the same documents ``capbroker apply`` reads from YAML)."""

    manifests: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=500)]
    dry_run: bool = False


class ExplainRequest(msgspec.Struct, forbid_unknown_fields=True):
    action: ActionText
    environment: Environment
    template: Name | None = None
    template_version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    token: Annotated[str, msgspec.Meta(max_length=8192)] | None = None
    agent: Annotated[str, msgspec.Meta(max_length=120)] | None = None
    resource: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    effect: Annotated[str, msgspec.Meta(pattern="^(read|write|destructive)$")] | None = None


class KillEngage(msgspec.Struct, forbid_unknown_fields=True):
    """Engage a kill switch: ``scope`` agent, template or provider with its ``name``, or all."""

    scope: Annotated[str, msgspec.Meta(pattern="^(agent|template|provider|all)$")]
    name: Annotated[str, msgspec.Meta(max_length=120)] = ""
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ApprovalDecision(msgspec.Struct, forbid_unknown_fields=True):
    comment: Annotated[str, msgspec.Meta(max_length=500)] = ""
