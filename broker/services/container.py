"""Builds every service from settings: the one place where the parts are wired together."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from broker.audit.writer import AuditWriter
from broker.auth.authenticator import Authenticator, Caller
from broker.auth.credentials import Kind
from broker.clock import Clock, system_clock
from broker.secrets.base import SecretStore
from broker.secrets.local import LocalFileStore
from broker.services.issuance import IssuanceService
from broker.services.principals import PrincipalService
from broker.services.signing import SigningKeys
from broker.services.templates import TemplateService
from broker.settings import Settings
from broker.store import migrate
from broker.store.database import Database
from broker.store.engine import make_engine
from broker.store.group_commit import GroupCommit
from broker.tokens import TokenVerifier


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    secrets: SecretStore
    audit: AuditWriter
    authenticator: Authenticator
    principals: PrincipalService
    templates: TemplateService
    keys: SigningKeys
    verifier: TokenVerifier
    issuance: IssuanceService
    committer: GroupCommit

    def authenticate(self, credential: str, *, kind: Kind | None) -> Caller:
        return self.authenticator.check(credential, kind=kind)

    def close(self) -> None:
        self.db.engine.dispose()


def build_secret_store(settings: Settings) -> SecretStore:
    if settings.secret_backend == "local":
        return LocalFileStore(settings.data_dir / "secrets")
    from broker.errors import InvalidRequest

    raise InvalidRequest(f"secret backend {settings.secret_backend!r} is not available yet")


def build_services(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    secrets: SecretStore | None = None,
    writer: str | None = None,
    run_migrations: bool = True,
) -> Services:
    engine = make_engine(settings.effective_database_url)
    if run_migrations:
        migrate.upgrade(engine)
    db = Database(engine)
    store = secrets if secrets is not None else build_secret_store(settings)
    audit = AuditWriter(
        writer=writer or f"broker@{socket.gethostname()}:{os.getpid()}", clock=clock
    )
    # A retired key must outlive every token it signed plus the skew verifiers allow.
    lifetime = settings.max_token_ttl + settings.leeway + settings.key_propagation_delay
    keys = SigningKeys(
        db,
        store,
        audit,
        clock,
        propagation_delay=settings.key_propagation_delay,
        max_token_lifetime=lifetime,
    )
    templates = TemplateService(db, audit, clock, ttl_ceiling=settings.max_token_ttl)
    verifier = TokenVerifier(
        keys.resolve,
        issuer=settings.effective_issuer,
        audience=settings.audience,
        leeway=settings.leeway,
        max_lifetime=settings.max_token_ttl,
    )
    authenticator = Authenticator(db, audit, clock=clock, cache_ttl=settings.credential_cache_ttl)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        secrets=store,
        audit=audit,
        authenticator=authenticator,
        principals=PrincipalService(db, audit, clock),
        templates=templates,
        keys=keys,
        verifier=verifier,
        issuance=IssuanceService(
            db,
            audit,
            clock,
            templates,
            keys,
            verifier,
            authenticator,
            issuer=settings.effective_issuer,
            audience=settings.audience,
            ttl_ceiling=settings.max_token_ttl,
        ),
        committer=GroupCommit(db),
    )
