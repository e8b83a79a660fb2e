"""Resource servers' public keys (private_key_jwt): read for authentication, and set from
``ResourceServer`` manifests (GitOps: keys only, never a secret, in the YAML).

A manifest makes the resource server if it does not exist (with no secret: it can only
authenticate with its keys until an admin adds one) and otherwise replaces its key set,
so rotating a key is an apply. Idempotent: the same keys change nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, delete, select

from broker.audit.writer import AuditWriter
from broker.clock import Clock
from broker.manifests import Manifest
from broker.services.principals import insert_client_keys
from broker.services.templates import Change
from broker.store.database import Database, Tx
from broker.store.tables import Principal, ResourceServerKey
from broker.tokens import PublicKey, public_key_from_jwk
from broker.tokens.jwks import client_keys

RESOURCE_SERVER_KIND = "ResourceServer"
_principals = Principal.__table__  # type: ignore[attr-defined]
_keys = ResourceServerKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ClientKeys:
    """A resource server as private_key_jwt sees it."""

    principal_id: str
    name: str
    disabled: bool
    keys: Mapping[str, PublicKey]

    def resolve(self, kid: str) -> PublicKey | None:
        """The key ``kid`` names; ``""`` (a header without kid) is the only key, if one."""
        if kid == "" and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return self.keys.get(kid)


def _stored(conn: Connection, principal_id: str) -> dict[str, dict[str, str]]:
    rows = conn.execute(
        select(_keys.c.kid, _keys.c.public_jwk).where(_keys.c.principal_id == principal_id)
    ).all()
    return {r.kid: json.loads(r.public_jwk) for r in rows}


def _lookup(conn: Connection, name: str) -> Any:
    return conn.execute(
        select(_principals.c.id, _principals.c.disabled_at).where(
            _principals.c.kind == "resource_server", _principals.c.name == name
        )
    ).first()


class ResourceServerService:
    def __init__(self, db: Database, audit: AuditWriter, clock: Clock) -> None:
        self.db, self.audit, self.clock = db, audit, clock

    def client(self, name: str) -> ClientKeys | None:
        """The resource server ``name`` with its keys; None if there is none."""
        with self.db.read() as conn:
            row = _lookup(conn, name)
            if row is None:
                return None
            stored = _stored(conn, row.id)
        keys = {
            kid: public_key_from_jwk(jwk, kid_is_thumbprint=False) for kid, jwk in stored.items()
        }
        return ClientKeys(row.id, name, row.disabled_at is not None, keys)

    @staticmethod
    def prepare(manifests: Sequence[Manifest]) -> list[tuple[Manifest, dict[str, dict[str, str]]]]:
        """Each manifest with its canonical keys (parse_manifest checked them already)."""
        return [(m, client_keys(m.spec["jwks"])) for m in manifests]

    def apply(
        self,
        tx: Tx,
        prepared: Sequence[tuple[Manifest, dict[str, dict[str, str]]]],
        *,
        actor: str,
        dry_run: bool,
    ) -> list[Change]:
        return [self._apply_one(tx, m, keys, actor, dry_run) for m, keys in prepared]

    def _apply_one(
        self, tx: Tx, m: Manifest, keys: dict[str, dict[str, str]], actor: str, dry_run: bool
    ) -> Change:
        now = self.clock()
        row = _lookup(tx.conn, m.name)
        current = _stored(tx.conn, row.id) if row is not None else {}
        if row is not None and current == keys:
            return Change(m.kind, m.name, "unchanged", None, None)
        diff = [f"- kid {k}" for k in sorted(current) if current[k] != keys.get(k)]
        diff += [f"+ kid {k}" for k in sorted(keys) if keys[k] != current.get(k)]
        action: Literal["create", "update"] = "create" if row is None else "update"
        if not dry_run:
            if row is None:
                principal_id = uuid.uuid4().hex
                tx.conn.execute(
                    _principals.insert().values(
                        id=principal_id,
                        kind="resource_server",
                        name=m.name,
                        description=str(m.spec.get("description", "")),
                        created_at=now,
                    )
                )
            else:
                principal_id = row.id
                tx.conn.execute(delete(_keys).where(_keys.c.principal_id == principal_id))
            insert_client_keys(tx, principal_id, keys, now)
            self.audit.append(
                tx,
                type="resource_server.created" if row is None else "resource_server.keys_replaced",
                actor=actor,
                subject=f"resource_server:{m.name}",
                data={"via": "manifest", "kids": sorted(keys), "previous_kids": sorted(current)},
            )
        return Change(m.kind, m.name, action, None, None, diff)
