"""The database tables (sqlmodel). Times are epoch seconds (float); JSON columns hold text.

Hot paths write through SQLAlchemy Core on these tables (``Model.__table__``): an ORM
unit of work costs several times a Core insert, and issuance is the broker's hot path.
"""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class Principal(SQLModel, table=True):
    """An admin or an agent: whoever holds credentials."""

    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=16)  # "admin" | "agent"
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=500)
    created_at: float
    disabled_at: float | None = None


class Credential(SQLModel, table=True):
    """A secret a principal presents; only a slow salted hash of it is stored."""

    __tablename__ = "credentials"

    key_id: str = Field(primary_key=True, max_length=40)
    principal_id: str = Field(foreign_key="principals.id", index=True, max_length=40)
    secret_hash: str = Field(max_length=300)
    created_at: float
    disabled_at: float | None = None


class TemplateVersion(SQLModel, table=True):
    __tablename__ = "template_versions"

    name: str = Field(primary_key=True, max_length=63)
    version: int = Field(primary_key=True)
    spec: str  # canonical JSON
    digest: str = Field(max_length=64)
    created_at: float
    created_by: str = Field(max_length=160)


class PolicyFloorVersion(SQLModel, table=True):
    __tablename__ = "policy_floor_versions"

    version: int = Field(primary_key=True)
    spec: str
    digest: str = Field(max_length=64)
    created_at: float
    created_by: str = Field(max_length=160)


class AgentSession(SQLModel, table=True):
    __tablename__ = "sessions"

    __table_args__ = (Index("ix_sessions_ended_at", "ended_at"),)

    id: str = Field(primary_key=True, max_length=40)
    agent_id: str = Field(foreign_key="principals.id", index=True, max_length=40)
    created_at: float
    ended_at: float | None = None


class IssuedToken(SQLModel, table=True):
    """The record of every token handed out, written in the transaction that signs it."""

    __tablename__ = "tokens"
    __table_args__ = (
        Index("ix_tokens_expires_at", "expires_at"),
        # Gateways poll for revocations by time: index it.
        Index("ix_tokens_revoked_at", "revoked_at"),
        # Revoking a token revokes its delegated descendants: walked by parent.
        Index("ix_tokens_parent_jti", "parent_jti"),
        # ... and disabling or killing an agent revokes the tokens it acts in (RFC 8693 act).
        Index("ix_tokens_actor_id", "actor_id"),
    )

    jti: str = Field(primary_key=True, max_length=40)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=40)
    agent_id: str = Field(foreign_key="principals.id", index=True, max_length=40)
    template_name: str = Field(max_length=63)
    template_version: int
    provider: str = Field(max_length=63)
    environment: str = Field(max_length=63)
    actions: str  # JSON list
    kid: str = Field(max_length=64)
    issued_at: float
    expires_at: float
    revoked_at: float | None = None
    parent_jti: str | None = Field(default=None, max_length=40)  # delegated from (RFC 8693)
    actor_id: str | None = Field(default=None, max_length=40)  # a delegated token's actor


class TokenUsage(SQLModel, table=True):
    """Calls a token has made through the gateways: the per-token budgets count here."""

    __tablename__ = "token_usage"

    jti: str = Field(primary_key=True, max_length=40)
    calls: int = 0
    destructive_calls: int = 0


class Kill(SQLModel, table=True):
    """A kill switch: every token in its scope is revoked and issuance for it is blocked
    until an admin lifts it. Scope: one agent, one template, one provider, or everything."""

    __tablename__ = "kills"
    __table_args__ = (Index("ix_kills_lifted_at", "lifted_at"),)

    id: str = Field(primary_key=True, max_length=40)
    scope: str = Field(max_length=16)  # agent | template | provider | all
    value: str = Field(default="", max_length=120)  # agent id, template or provider name
    label: str = Field(default="", max_length=160)  # what an admin reads (agent name)
    reason: str = Field(default="", max_length=500)
    created_at: float
    created_by: str = Field(max_length=160)
    lifted_at: float | None = None
    lifted_by: str | None = Field(default=None, max_length=160)


class Approval(SQLModel, table=True):
    """A held call waiting for a human: exactly this call (by digest), once, before expiry."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_status", "status"),)

    id: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16)  # pending | granted | denied | used
    call_digest: str = Field(max_length=64)
    provider: str = Field(max_length=63)
    method: str = Field(max_length=8)
    path: str = Field(max_length=2048)
    actions: str  # JSON list
    resources: str  # JSON list
    environments: str  # JSON list, as the gateway resolved them
    effect: str = Field(max_length=16)
    jti: str = Field(max_length=40)
    session_id: str = Field(max_length=40)
    agent_id: str = Field(max_length=40)
    agent_name: str = Field(max_length=120)
    template_name: str = Field(max_length=63)
    template_version: int
    approvers_required: int = 1
    created_at: float
    expires_at: float
    decided_at: float | None = None
    used_at: float | None = None


class ApprovalVote(SQLModel, table=True):
    """One approver's yes or no; a two-person rule counts distinct approvers."""

    __tablename__ = "approval_votes"

    approval_id: str = Field(primary_key=True, foreign_key="approvals.id", max_length=64)
    approver: str = Field(primary_key=True, max_length=160)
    decision: str = Field(max_length=8)  # approve | deny
    at: float


class SigningKeyRecord(SQLModel, table=True):
    """Public half and schedule of a signing key; the private half lives in the secret store."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    public_jwk: str
    secret_name: str = Field(max_length=200)
    created_at: float
    activates_at: float


class AuditChain(SQLModel, table=True):
    """One hash chain per writer process, so replicas never serialize on a global head."""

    __tablename__ = "audit_chains"

    id: str = Field(primary_key=True, max_length=40)
    writer: str = Field(max_length=200)
    created_at: float
    head_seq: int = 0
    head_hash: str = Field(max_length=64)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain_id", "seq"),
        Index("ix_audit_events_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chain_id: str = Field(foreign_key="audit_chains.id", max_length=40)
    seq: int
    at: float
    type: str = Field(max_length=64)
    actor: str = Field(max_length=200)
    subject: str = Field(max_length=200)
    outcome: str = Field(max_length=16)  # "ok" | "denied" | "error"
    reason: str = Field(default="", max_length=64)
    data: str  # JSON object
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class ResourceServerKey(SQLModel, table=True):
    """A public key a resource server signs its client assertions with (private_key_jwt)."""

    __tablename__ = "resource_server_keys"

    principal_id: str = Field(primary_key=True, foreign_key="principals.id", max_length=40)
    kid: str = Field(primary_key=True, max_length=200)
    public_jwk: str  # canonical JSON of the public members only
    created_at: float


class UsedJti(SQLModel, table=True):
    """One-time tokens seen (client assertions, single-use workload tokens), shared by every
    broker replica: a (namespace, jti) is accepted once until ``expires_at``."""

    __tablename__ = "used_jtis"
    __table_args__ = (Index("ix_used_jtis_expires_at", "expires_at"),)

    namespace: str = Field(primary_key=True, max_length=200)
    jti: str = Field(primary_key=True, max_length=200)
    expires_at: float


metadata = SQLModel.metadata
