"""Signing keys: the public half and schedule in the database, the private half in the secret store.

Rotation publishes the new key ``propagation_delay`` before it signs; retired keys stay in
the JWKS until every token they signed has expired (see broker.tokens.keyset).
"""

from __future__ import annotations

import hashlib
import json
import threading

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from broker.audit.writer import AuditWriter
from broker.clock import Clock
from broker.secrets.base import SecretStore
from broker.store.database import Database
from broker.store.tables import SigningKeyRecord
from broker.tokens import (
    Keyset,
    SigningKey,
    generate_signing_key,
    load_signing_key,
    private_key_bytes,
    public_jwk,
    public_key_from_jwk,
)

_keys = SigningKeyRecord.__table__  # type: ignore[attr-defined]


def secret_name_for(kid: str) -> str:
    # kids are base64url (mixed case); secret names are lower-case paths.
    return "signing-keys/" + hashlib.sha256(kid.encode()).hexdigest()[:40]


class SigningKeys:
    def __init__(
        self,
        db: Database,
        secrets: SecretStore,
        audit: AuditWriter,
        clock: Clock,
        *,
        propagation_delay: float,
        max_token_lifetime: float,
        refresh_interval: float = 5.0,
    ) -> None:
        self.db, self.secrets, self.audit, self.clock = db, secrets, audit, clock
        self.propagation_delay = propagation_delay
        self.max_token_lifetime = max_token_lifetime
        self.refresh_interval = refresh_interval
        self._keyset = Keyset([])
        self._loaded_at = float("-inf")
        self._private: dict[str, SigningKey] = {}
        self._lock = threading.Lock()

    def keyset(self, *, force: bool = False) -> Keyset:
        """The current keyset; reloaded every few seconds so keys rotated elsewhere appear."""
        now = self.clock()
        if force or now - self._loaded_at >= self.refresh_interval:
            with self._lock:
                self._keyset = self._load()
                self._loaded_at = now
        return self._keyset

    def _load(self) -> Keyset:
        with self.db.read() as conn:
            rows = conn.execute(select(_keys)).all()
        keys = []
        for r in rows:
            key = self._private.get(r.kid)
            if key is None:
                key = load_signing_key(
                    r.kid, self.secrets.get(r.secret_name), r.created_at, r.activates_at
                )
                self._private[r.kid] = key
            keys.append(key)
        return Keyset(keys)

    def signer(self) -> SigningKey:
        return self.keyset().signer(self.clock())

    def jwks(self) -> dict[str, object]:
        return self.keyset().jwks(self.clock(), max_token_lifetime=self.max_token_lifetime)

    def resolve(self, kid: str) -> Ed25519PublicKey | None:
        now = self.clock()
        found = self.keyset().verification_key(kid, now, max_token_lifetime=self.max_token_lifetime)
        return found

    def ensure_key(self, *, actor: str) -> bool:
        """At first start: create a key that signs at once (nothing can have cached a JWKS yet)."""
        if self.keyset(force=True).keys:
            return False
        self._add(activates_at=self.clock(), actor=actor)
        return True

    def rotate(self, *, actor: str) -> SigningKey:
        return self._add(activates_at=self.clock() + self.propagation_delay, actor=actor)

    def _add(self, *, activates_at: float, actor: str) -> SigningKey:
        now = self.clock()
        key = generate_signing_key(now=now, activates_at=activates_at)
        name = secret_name_for(key.kid)
        # The secret goes first: a crash after it leaves an unused secret, never a key
        # row whose private half is missing.
        self.secrets.put(name, private_key_bytes(key))
        with self.db.transaction() as tx:
            tx.conn.execute(
                _keys.insert().values(
                    kid=key.kid,
                    public_jwk=json.dumps(public_jwk(key)),
                    secret_name=name,
                    created_at=now,
                    activates_at=activates_at,
                )
            )
            self.audit.append(
                tx,
                type="signing_key.created",
                actor=actor,
                subject=f"kid:{key.kid}",
                data={"activates_at": activates_at},
            )
        self._private[key.kid] = key
        self.keyset(force=True)
        return key

    def public_keys(self) -> list[tuple[str, Ed25519PublicKey, float]]:
        """Every stored key (kid, public key, activates_at), for listings."""
        with self.db.read() as conn:
            rows = conn.execute(select(_keys).order_by(_keys.c.activates_at)).all()
        return [
            (r.kid, public_key_from_jwk(json.loads(r.public_jwk)), r.activates_at) for r in rows
        ]
