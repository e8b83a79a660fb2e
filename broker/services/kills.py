"""The kill switch: revoke every token of an agent, a template, a provider or everything, and
block issuance for that scope until an admin lifts it.

Engaging writes the switch and revokes the tokens in one transaction; gateways learn of
both within their revocation poll (about a second) and refuse the scope's tokens, even
ones issued elsewhere in the same instant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, select, update

from broker.audit.writer import AuditWriter
from broker.clock import Clock
from broker.domain.kills import SCOPES, KillScope, KillSwitch
from broker.errors import Conflict, InvalidRequest, NotFound
from broker.services.descendants import revoke_acted_by
from broker.store.database import Database
from broker.store.raw import RawStatement
from broker.store.tables import IssuedToken, Kill, Principal

_kills = Kill.__table__  # type: ignore[attr-defined]
_tokens = IssuedToken.__table__  # type: ignore[attr-defined]
_principals = Principal.__table__  # type: ignore[attr-defined]
ACTIVE_KILLS = RawStatement("SELECT id, scope, value, label FROM kills WHERE lifted_at IS NULL")
_SCOPE_COLUMN = {
    "agent": _tokens.c.agent_id,
    "template": _tokens.c.template_name,
    "provider": _tokens.c.provider,
}


@dataclass(frozen=True)
class KillRecord:
    switch: KillSwitch
    reason: str
    created_at: float
    created_by: str
    lifted_at: float | None
    lifted_by: str | None


def active_kills(conn: Connection) -> tuple[KillSwitch, ...]:
    return tuple(
        KillSwitch(str(r[0]), cast(KillScope, r[1]), str(r[2]), str(r[3]))
        for r in ACTIVE_KILLS.fetch_all(conn, {})
    )


class KillService:
    def __init__(
        self, db: Database, audit: AuditWriter, clock: Clock, *, refresh_seconds: float = 1.0
    ) -> None:
        self.db, self.audit, self.clock = db, audit, clock
        self.refresh_seconds = refresh_seconds
        self._cached: tuple[float, tuple[KillSwitch, ...]] | None = None

    def active(self, conn: Connection) -> tuple[KillSwitch, ...]:
        """Active switches, re-read at most every refresh_seconds (at once after a change here)."""
        now = self.clock()
        if self._cached is None or now - self._cached[0] >= self.refresh_seconds:
            self._cached = (now, active_kills(conn))
        return self._cached[1]

    def _forget(self) -> None:
        self._cached = None

    def engage(
        self, scope: str, name: str, *, actor: str, reason: str = ""
    ) -> tuple[KillRecord, int]:
        if scope not in SCOPES:
            raise InvalidRequest(f"scope must be one of {', '.join(SCOPES)}")
        if (scope == "all") != (name == ""):
            raise InvalidRequest("name the agent, template or provider (and nothing for 'all')")
        if len(reason) > 500:
            raise InvalidRequest("reason: at most 500 characters")
        now = self.clock()
        with self.db.transaction() as tx:
            value = name
            if scope == "agent":
                row = tx.conn.execute(
                    select(_principals.c.id).where(
                        _principals.c.kind == "agent", _principals.c.name == name
                    )
                ).first()
                if row is None:
                    raise NotFound(f"agent {name!r} does not exist")
                value = row.id
            switch = KillSwitch(uuid.uuid4().hex, scope, value, name or "everything")
            tx.conn.execute(
                _kills.insert().values(
                    id=switch.id,
                    scope=scope,
                    value=value,
                    label=switch.label,
                    reason=reason,
                    created_at=now,
                    created_by=actor,
                )
            )
            stmt = update(_tokens).where(_tokens.c.revoked_at.is_(None), _tokens.c.expires_at > now)
            if scope != "all":
                stmt = stmt.where(_SCOPE_COLUMN[scope] == value)
            revoked = int(tx.conn.execute(stmt.values(revoked_at=now)).rowcount)
            if scope == "agent":  # and the delegated tokens it acts in (RFC 8693 act)
                revoked += revoke_acted_by(tx.conn, value, now)
            self.audit.append(
                tx,
                type="kill.engaged",
                actor=actor,
                subject=f"{scope}:{switch.label}",
                data={"kill": switch.id, "tokens_revoked": revoked, "reason": reason},
            )
            tx.after_commit(self._forget)
        return KillRecord(switch, reason, now, actor, None, None), revoked

    def lift(self, kill_id: str, *, actor: str) -> None:
        now = self.clock()
        with self.db.transaction() as tx:
            row = tx.conn.execute(select(_kills).where(_kills.c.id == kill_id)).first()
            if row is None:
                raise NotFound(f"kill switch {kill_id!r} does not exist")
            if row.lifted_at is not None:
                raise Conflict("that kill switch was already lifted")
            tx.conn.execute(
                update(_kills).where(_kills.c.id == kill_id).values(lifted_at=now, lifted_by=actor)
            )
            self.audit.append(
                tx,
                type="kill.lifted",
                actor=actor,
                subject=f"{row.scope}:{row.label}",
                data={"kill": kill_id},
            )
            tx.after_commit(self._forget)

    def list(self, *, include_lifted: bool = False) -> list[KillRecord]:
        with self.db.read() as conn:
            stmt = select(_kills).order_by(_kills.c.created_at.desc())
            if not include_lifted:
                stmt = stmt.where(_kills.c.lifted_at.is_(None))
            rows = conn.execute(stmt).all()
        return [
            KillRecord(
                KillSwitch(r.id, cast(KillScope, r.scope), r.value, r.label),
                r.reason,
                r.created_at,
                r.created_by,
                r.lifted_at,
                r.lifted_by,
            )
            for r in rows
        ]
