"""Admins, agents and resource servers: created with a secret shown once, listed, disabled."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from broker.audit.writer import AuditWriter
from broker.auth.credentials import Kind, NewCredential, new_credential, parse_credential
from broker.auth.credentials import hash_secret as slow_hash
from broker.clock import Clock
from broker.errors import Conflict, InvalidRequest, NotFound
from broker.services.descendants import revoke_acted_by
from broker.store.database import Database, Tx
from broker.store.tables import (
    AgentSession,
    Credential,
    IssuedToken,
    Principal,
    ResourceServerKey,
)

_principals = Principal.__table__  # type: ignore[attr-defined]
_client_keys = ResourceServerKey.__table__  # type: ignore[attr-defined]
_creds = Credential.__table__  # type: ignore[attr-defined]
_tokens = IssuedToken.__table__  # type: ignore[attr-defined]
_sessions = AgentSession.__table__  # type: ignore[attr-defined]
NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,118}[a-z0-9])?")


@dataclass(frozen=True)
class PrincipalView:
    id: str
    kind: str
    name: str
    description: str
    created_at: float
    disabled_at: float | None


@dataclass(frozen=True)
class CreatedPrincipal:
    principal: PrincipalView
    credential: str  # the only time the secret exists outside its holder

    def __repr__(self) -> str:
        return f"CreatedPrincipal(principal={self.principal!r}, credential=***)"


@dataclass(frozen=True)
class CreatedResourceServer:
    principal: PrincipalView
    credential: str | None  # None: keys only (private_key_jwt), no secret at all
    kids: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"CreatedResourceServer(principal={self.principal!r}, kids={self.kids!r},"
            " credential=***)"
        )


def insert_client_keys(
    tx: Tx, principal_id: str, keys: Mapping[str, Mapping[str, str]], now: float
) -> None:
    """Store a resource server's public keys (``broker.tokens.jwks.client_keys`` output)."""
    for kid, jwk in keys.items():
        tx.conn.execute(
            _client_keys.insert().values(
                principal_id=principal_id,
                kid=kid,
                public_jwk=json.dumps(dict(jwk), sort_keys=True, separators=(",", ":")),
                created_at=now,
            )
        )


class PrincipalService:
    def __init__(self, db: Database, audit: AuditWriter, clock: Clock) -> None:
        self.db, self.audit, self.clock = db, audit, clock

    def create(
        self,
        kind: Kind,
        name: str,
        *,
        actor: str,
        description: str = "",
        credential: str | None = None,
    ) -> CreatedPrincipal:
        """Create a principal with a fresh credential, or with ``credential`` when an operator
        supplies one (the bootstrap admin from a Secret); only its slow hash is stored."""
        view, secret = self._create(
            kind, name, actor=actor, description=description, credential=credential
        )
        assert secret is not None
        return CreatedPrincipal(view, secret)

    def create_resource_server(
        self,
        name: str,
        *,
        actor: str,
        description: str = "",
        keys: Mapping[str, Mapping[str, str]],
        with_secret: bool,
    ) -> CreatedResourceServer:
        """A resource server with public keys (``keys``) and, if ``with_secret``, a secret."""
        if not keys and not with_secret:
            raise InvalidRequest("a resource server needs a secret, public keys, or both")
        view, secret = self._create(
            "resource_server",
            name,
            actor=actor,
            description=description,
            keys=keys,
            with_secret=with_secret,
        )
        return CreatedResourceServer(view, secret, tuple(keys))

    def _create(
        self,
        kind: Kind,
        name: str,
        *,
        actor: str,
        description: str,
        credential: str | None = None,
        keys: Mapping[str, Mapping[str, str]] | None = None,
        with_secret: bool = True,
    ) -> tuple[PrincipalView, str | None]:
        if not NAME.fullmatch(name):
            raise InvalidRequest(
                f"name {name!r}: use 1-120 lower-case letters, digits, '.', '_' or '-'"
            )
        if len(description) > 500:
            raise InvalidRequest("description: at most 500 characters")
        now = self.clock()
        cred: NewCredential | None = None
        if credential is not None:
            parsed = parse_credential(credential, expected=kind)
            cred = NewCredential(parsed.key_id, credential)
        elif with_secret:
            cred = new_credential(kind)
        view = PrincipalView(uuid.uuid4().hex, kind, name, description, now, None)
        with self.db.transaction() as tx:
            exists = tx.conn.execute(
                select(_principals.c.id).where(
                    _principals.c.kind == kind, _principals.c.name == name
                )
            ).first()
            if exists is not None:
                raise Conflict(f"{kind} {name!r} already exists")
            if cred is not None:
                taken = tx.conn.execute(
                    select(_creds.c.key_id).where(_creds.c.key_id == cred.key_id)
                ).first()
                if taken is not None:
                    raise Conflict("that credential is already in use")
            tx.conn.execute(
                _principals.insert().values(
                    id=view.id, kind=kind, name=name, description=description, created_at=now
                )
            )
            data: dict[str, object] = {}
            if cred is not None:
                tx.conn.execute(
                    _creds.insert().values(
                        key_id=cred.key_id,
                        principal_id=view.id,
                        secret_hash=slow_hash(parse_credential(cred.value).secret),
                        created_at=now,
                    )
                )
                data["key_id"] = cred.key_id
            if keys:
                insert_client_keys(tx, view.id, keys, now)
                data["kids"] = sorted(keys)
            self.audit.append(
                tx, type=f"{kind}.created", actor=actor, subject=f"{kind}:{name}", data=data
            )
        return view, cred.value if cred is not None else None

    def list(self, kind: Kind) -> list[PrincipalView]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(_principals).where(_principals.c.kind == kind).order_by(_principals.c.name)
            ).all()
        return [
            PrincipalView(r.id, r.kind, r.name, r.description, r.created_at, r.disabled_at)
            for r in rows
        ]

    def any_admin(self) -> bool:
        with self.db.read() as conn:
            return (
                conn.execute(
                    select(_principals.c.id).where(_principals.c.kind == "admin").limit(1)
                ).first()
                is not None
            )

    def set_disabled(self, kind: Kind, name: str, *, disabled: bool, actor: str) -> PrincipalView:
        now = self.clock()
        with self.db.transaction() as tx:
            row = tx.conn.execute(
                select(_principals).where(_principals.c.kind == kind, _principals.c.name == name)
            ).first()
            if row is None:
                raise NotFound(f"{kind} {name!r} does not exist")
            if disabled and kind == "admin" and not self._other_enabled_admin(tx, row.id):
                # Over the API nobody could undo it: only the CLI on the database could.
                raise Conflict(f"admin {name!r} is the last enabled admin; enable another first")
            tx.conn.execute(
                update(_principals)
                .where(_principals.c.id == row.id)
                .values(disabled_at=now if disabled else None)
            )
            revoked = 0
            if disabled and kind == "agent":
                # A disabled agent is presumed compromised: its live tokens and sessions end too.
                revoked = tx.conn.execute(
                    update(_tokens)
                    .where(
                        _tokens.c.agent_id == row.id,
                        _tokens.c.revoked_at.is_(None),
                        _tokens.c.expires_at > now,
                    )
                    .values(revoked_at=now)
                ).rowcount
                revoked += revoke_acted_by(tx.conn, row.id, now)  # tokens it was delegated
                tx.conn.execute(
                    update(_sessions)
                    .where(_sessions.c.agent_id == row.id, _sessions.c.ended_at.is_(None))
                    .values(ended_at=now)
                )
            self.audit.append(
                tx,
                type=f"{kind}.{'disabled' if disabled else 'enabled'}",
                actor=actor,
                subject=f"{kind}:{name}",
                data={"tokens_revoked": revoked} if disabled else {},
            )
        return PrincipalView(
            row.id, row.kind, row.name, row.description, row.created_at, now if disabled else None
        )

    @staticmethod
    def _other_enabled_admin(tx: Tx, admin_id: str) -> bool:
        return (
            tx.conn.execute(
                select(_principals.c.id)
                .where(
                    _principals.c.kind == "admin",
                    _principals.c.id != admin_id,
                    _principals.c.disabled_at.is_(None),
                )
                .limit(1)
            ).first()
            is not None
        )


def bootstrap_admin(principals: PrincipalService, credential_file: str) -> CreatedPrincipal | None:
    """At first start: the admin ``bootstrap``, with the credential from ``credential_file``
    when given (nothing to print), else a fresh one the caller prints once. None when an
    admin exists already, also when another replica created it a moment ago."""
    if principals.any_admin():
        return None
    supplied = None
    if credential_file:
        try:
            supplied = Path(credential_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidRequest(
                f"bootstrap_admin_file {credential_file}: cannot be read ({exc.strerror})"
            ) from None
    try:
        return principals.create(
            "admin", "bootstrap", actor="system:bootstrap", credential=supplied
        )
    except Conflict:
        return None
