"""Signing keys: which key signs now, what the JWKS publishes, how keys rotate.

Two kinds, one schedule (broker.tokens.keyset): rotation publishes the new key
``propagation_delay`` before it signs; retired keys stay in the JWKS until every token
they signed has expired.

- ``LocalSigningKeys`` (``signer: local``): the public half and schedule in the
  database, the private half in the secret store (the local file store, or Vault KV).
- ``TransitSigningKeys`` (``signer: transit``): the key is a Vault Transit signing key;
  each Transit version is one ``kid``, its private half never leaves Vault, and every
  token is signed by a Transit ``sign`` call inside the issuing transaction.

Keys are Ed25519, ES256 or RS256 (``signing_algorithm``); a rotation may change the
algorithm, and keys of the old one keep verifying until their tokens expire.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from sqlalchemy import func, select

from broker.audit.writer import AuditWriter
from broker.clock import Clock
from broker.errors import BrokerError
from broker.secrets.base import SecretBackendUnavailable, SecretNotFound, SecretStore
from broker.secrets.vault.transit import VaultTransit
from broker.store.database import Database
from broker.store.tables import SigningKeyRecord
from broker.tokens import (
    ED25519,
    Keyset,
    PublicKey,
    SigningKey,
    generate_signing_key,
    load_signing_key,
    private_key_bytes,
    public_jwk,
    public_key_from_jwk,
    thumbprint,
)
from broker.tokens._jwa import algorithm_of, verify

_keys = SigningKeyRecord.__table__  # type: ignore[attr-defined]
log = logging.getLogger(__name__)
# What the readiness probe signs: a constant, so a probe reveals nothing.
PROBE_INPUT = b"capbroker readiness probe"


def secret_name_for(kid: str) -> str:
    # kids are base64url (mixed case); secret names are lower-case paths.
    return "signing-keys/" + hashlib.sha256(kid.encode()).hexdigest()[:40]


class SigningKeys(ABC):
    """The keyset, reloaded every few seconds so keys rotated elsewhere appear."""

    kind: str = ""

    def __init__(
        self,
        clock: Clock,
        *,
        propagation_delay: float,
        max_token_lifetime: float,
        refresh_interval: float = 5.0,
        algorithm: str = ED25519,
    ) -> None:
        self.clock = clock
        self.algorithm = algorithm
        self.propagation_delay = propagation_delay
        self.max_token_lifetime = max_token_lifetime
        self.refresh_interval = refresh_interval
        self._keyset = Keyset([])
        self._loaded_at = float("-inf")
        self._load_error: BrokerError | None = None
        self._lock = threading.Lock()
        # A server reloads in the background (``reload`` in a worker thread, see
        # broker.services.health): ``keyset`` then never reads the database or Vault on
        # the event loop; until a first load succeeds it raises the last load's fault.
        self.reloads_in_background = False

    def keyset(self, *, force: bool = False) -> Keyset:
        """The current keyset; reloaded every few seconds so keys rotated elsewhere appear."""
        if force:
            return self.reload()
        if self.reloads_in_background and self._loaded_at > float("-inf"):
            return self._keyset
        if self.reloads_in_background and self._load_error is not None:
            raise self._load_error
        if self.clock() - self._loaded_at >= self.refresh_interval:
            return self.reload()
        return self._keyset

    def reload(self) -> Keyset:
        """Read the keyset now (blocking)."""
        now = self.clock()
        with self._lock:
            try:
                self._keyset = self._load()
            except BrokerError as fault:
                self._load_error = fault
                raise
            self._load_error = None
            self._loaded_at = now
            return self._keyset

    @abstractmethod
    def _load(self) -> Keyset: ...

    def signer(self) -> SigningKey:
        return self.keyset().signer(self.clock())

    def jwks(self) -> dict[str, object]:
        return self.keyset().jwks(self.clock(), max_token_lifetime=self.max_token_lifetime)

    def resolve(self, kid: str) -> PublicKey | None:
        now = self.clock()
        found = self.keyset().verification_key(kid, now, max_token_lifetime=self.max_token_lifetime)
        return found

    def public_keys(self) -> list[tuple[str, PublicKey, float]]:
        """Every known key (kid, public key, activates_at), oldest first, for listings."""
        return [(k.kid, k.public, k.activates_at) for k in self.keyset(force=True).keys]

    def check(self) -> None:
        """Raise unless a token could be signed now (readiness)."""
        self.signer()

    @abstractmethod
    def ensure_key(self, *, actor: str) -> bool:
        """At start: make sure a key exists; True if one was created."""

    @abstractmethod
    def rotate(self, *, actor: str) -> SigningKey:
        """Add a key: published now, signing after ``propagation_delay``."""

    @abstractmethod
    def describe(self) -> str:
        """One line for start-up reports; no secrets."""


class LocalSigningKeys(SigningKeys):
    """Keys generated here; private halves in the secret store, schedule in the database."""

    kind = "local"

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
        algorithm: str = ED25519,
    ) -> None:
        super().__init__(
            clock,
            propagation_delay=propagation_delay,
            max_token_lifetime=max_token_lifetime,
            refresh_interval=refresh_interval,
            algorithm=algorithm,
        )
        self.db, self.secrets, self.audit = db, secrets, audit
        self._private: dict[str, SigningKey] = {}

    def describe(self) -> str:
        return f"local {self.algorithm} keys (private halves in the secret backend)"

    def _load(self) -> Keyset:
        with self.db.read() as conn:
            rows = conn.execute(select(_keys)).all()
        keys = []
        for r in rows:
            key = self._private.get(r.kid)
            if key is None:
                key = load_signing_key(
                    r.kid, self._private_half(r.kid, r.secret_name), r.created_at, r.activates_at
                )
                self._private[r.kid] = key
            keys.append(key)
        return Keyset(keys)

    def _private_half(self, kid: str, secret_name: str) -> bytes:
        try:
            return self.secrets.get(secret_name)
        except SecretNotFound:
            failure = SecretBackendUnavailable(
                f"the private half of signing key {kid} is missing from the secret backend"
            )
        log.error("signing key %s: private half missing from the secret backend", kid)
        raise failure

    def ensure_key(self, *, actor: str) -> bool:
        """At first start: create a key that signs at once (nothing can have cached a JWKS yet)."""
        # Counted in the database, so a broker whose secret backend is down still starts
        # (and reports itself not ready) once its keys exist.
        with self.db.read() as conn:
            if conn.execute(select(func.count()).select_from(_keys)).scalar_one():
                return False
        self._add(activates_at=self.clock(), actor=actor)
        return True

    def rotate(self, *, actor: str) -> SigningKey:
        return self._add(activates_at=self.clock() + self.propagation_delay, actor=actor)

    def _add(self, *, activates_at: float, actor: str) -> SigningKey:
        now = self.clock()
        key = generate_signing_key(now=now, activates_at=activates_at, algorithm=self.algorithm)
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

    def public_keys(self) -> list[tuple[str, PublicKey, float]]:
        """Every stored key (kid, public key, activates_at), for listings."""
        with self.db.read() as conn:
            rows = conn.execute(select(_keys).order_by(_keys.c.activates_at)).all()
        return [
            (r.kid, public_key_from_jwk(json.loads(r.public_jwk)), r.activates_at) for r in rows
        ]


class TransitSigningKeys(SigningKeys):
    """One Vault Transit signing key (its type fixes the algorithm); each version is a ``kid``.

    The schedule comes from Transit: the oldest version Vault still holds signs from its
    creation (nothing can have cached a JWKS without it); every later version is
    published as soon as this broker reads it and signs ``propagation_delay`` after its
    creation time, until then its predecessor signs. Versions below Transit's
    ``min_encryption_version`` are verify-only. The same ``Keyset`` decides the signer
    and what the JWKS publishes, so retired versions stay published until every token
    they signed has expired.

    If Vault cannot be read when the keyset is due for a reload, the last keyset read is
    kept (public keys only; signing needs Vault anyway and fails with 503).

    ``retired`` are Transit keys that signed before ``transit`` (an algorithm change needs
    a new key, since a Transit key's type is fixed): their versions are verify-only and
    stay published until every token they signed has expired.
    """

    kind = "transit"

    def __init__(
        self,
        transit: VaultTransit,
        db: Database,
        audit: AuditWriter,
        clock: Clock,
        *,
        propagation_delay: float,
        max_token_lifetime: float,
        refresh_interval: float = 5.0,
        algorithm: str = ED25519,
        retired: Sequence[VaultTransit] = (),
    ) -> None:
        super().__init__(
            clock,
            propagation_delay=propagation_delay,
            max_token_lifetime=max_token_lifetime,
            refresh_interval=refresh_interval,
            algorithm=algorithm,
        )
        self.transit, self.db, self.audit = transit, db, audit
        self.retired = tuple(retired)
        self._version_of: dict[str, int] = {}

    def describe(self) -> str:
        return f"{self.transit.describe()} ({self.algorithm}; the private key never leaves Vault)"

    def version_of(self, kid: str) -> int | None:
        """The Transit key version behind ``kid`` (None: not seen)."""
        return self._version_of.get(kid)

    def _load(self) -> Keyset:
        try:
            versions = self.transit.versions()
            retired = [v for t in self.retired for v in t.versions()]
        except SecretBackendUnavailable:
            if not self._keyset.keys:
                raise
            log.warning("transit keys could not be read; keeping the last keyset read")
            return self._keyset
        algorithm = algorithm_of(versions[-1].public)
        if algorithm != self.algorithm:
            raise SecretBackendUnavailable(
                f"transit key {self.transit.key} signs {algorithm} but signing_algorithm is "
                f"{self.algorithm}"
            )
        now = self.clock()
        keys = [
            SigningKey(thumbprint(v.public), None, v.public, v.created_at, v.created_at)
            for v in retired
        ]
        for index, v in enumerate(versions):
            kid = thumbprint(v.public)
            activates_at = min(v.created_at, now) if index == 0 else v.created_at
            if index:
                activates_at += self.propagation_delay
            remote = functools.partial(self._sign, v.version, v.public) if v.can_sign else None
            keys.append(SigningKey(kid, None, v.public, v.created_at, activates_at, remote))
            self._version_of[kid] = v.version
        return Keyset(keys)

    def _sign(self, version: int, public: PublicKey, signing_input: bytes) -> bytes:
        signature = self.transit.sign(signing_input, version=version, public=public)
        if verify(public, signature, signing_input):
            return signature
        log.error("transit version %s: signature does not verify", version)
        raise SecretBackendUnavailable(
            f"transit key {self.transit.key} version {version} returned a signature that "
            "does not verify with its published public key"
        )

    def check(self) -> None:
        """A fresh read of the key and a signature of a constant probe (no cached keyset)."""
        self.transit.versions()
        self.signer().sign(PROBE_INPUT)

    def ensure_key(self, *, actor: str) -> bool:
        """Nothing to create: the operator creates the Transit key (docs/vault.md)."""
        return False

    def rotate(self, *, actor: str) -> SigningKey:
        version = self.transit.rotate()
        keyset = self.keyset(force=True)
        key = next((k for k in keyset.keys if self._version_of.get(k.kid) == version), None)
        if key is None:
            raise SecretBackendUnavailable(
                f"transit key {self.transit.key} was rotated to version {version} "
                "but that version could not be read back"
            )
        with self.db.transaction() as tx:
            self.audit.append(
                tx,
                type="signing_key.created",
                actor=actor,
                subject=f"kid:{key.kid}",
                data={"activates_at": key.activates_at, "transit_version": version},
            )
        return key


def describe_failure(exc: Exception) -> str:
    """A short, secret-free reason for reports: the reason code of a ``BrokerError``."""
    if isinstance(exc, BrokerError):
        return exc.reason.value
    return type(exc).__name__
