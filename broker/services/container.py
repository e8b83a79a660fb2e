"""Builds every service from settings: the one place where the parts are wired together."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from broker.audit.writer import AuditWriter
from broker.auth.authenticator import Authenticator, Caller
from broker.auth.client_assertion import ClientAssertions
from broker.auth.credentials import Kind
from broker.blocking import BlockingCalls
from broker.clock import Clock, system_clock
from broker.errors import InvalidRequest, Reason, Unavailable
from broker.identity import WorkloadExchange, load_issuers
from broker.manifests import Manifest
from broker.secrets.base import SecretStore
from broker.secrets.local import LocalFileStore
from broker.services.approvals import ApprovalService
from broker.services.health import Check, Monitor
from broker.services.issuance import IssuanceService
from broker.services.kills import KillService
from broker.services.principals import PrincipalService
from broker.services.resource_servers import RESOURCE_SERVER_KIND, ResourceServerService
from broker.services.signing import (
    LocalSigningKeys,
    SigningKeys,
    TransitSigningKeys,
    describe_failure,
)
from broker.services.templates import Change, TemplateService
from broker.settings import Settings
from broker.store import migrate
from broker.store.checkpoint import WalCheckpointer
from broker.store.database import Database
from broker.store.engine import Timeouts, make_engine
from broker.store.group_commit import GroupCommit
from broker.store.replay import DatabaseReplay
from broker.tokens import TokenVerifier
from broker.tokens.dpop import DPoPVerifier
from broker.tokens.replay import ReplayStore


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
    kills: KillService
    approvals: ApprovalService
    resource_servers: ResourceServerService
    # One-time jtis (client assertions, single-use workload tokens): a table all replicas share.
    replay: ReplayStore
    client_assertions: ClientAssertions
    checkpointer: WalCheckpointer | None = None
    monitor: Monitor | None = None
    # Workload identity (broker.identity): None unless trusted_issuers_file is set.
    identity: WorkloadExchange | None = None
    # DPoP proofs at the token endpoints (RFC 9449; broker.api.dpop): one jti cache per process
    dpop: DPoPVerifier = field(default_factory=DPoPVerifier)

    def authenticate(self, credential: str, *, kind: Kind | None) -> Caller:
        return self.authenticator.check(credential, kind=kind)

    def apply_manifests(
        self, manifests: list[Manifest], *, actor: str, dry_run: bool
    ) -> list[Change]:
        """Templates, the policy floor and resource servers, in one transaction."""
        servers = [m for m in manifests if m.kind == RESOURCE_SERVER_KIND]
        prepared = self.resource_servers.prepare(servers)
        return self.templates.apply(
            [m for m in manifests if m.kind != RESOURCE_SERVER_KIND],
            actor=actor,
            dry_run=dry_run,
            also=lambda tx: self.resource_servers.apply(tx, prepared, actor=actor, dry_run=dry_run),
        )

    def reachability(self) -> dict[str, str]:
        """Can the secret backend and the signer be used right now? ``{"secret_backend":
        "ok" | "unavailable (<reason code>)", "signer": ...}``, by live calls (no cache)."""
        checks: dict[str, str] = {}
        for name, probe in (("secret_backend", self._probe_secrets), ("signer", self.keys.check)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # any fault means unusable; report its code, not its text
                checks[name] = f"unavailable ({describe_failure(exc)})"
        return checks

    def readiness(self) -> dict[str, str]:
        """What /readyz reports: the background checks' last outcomes in a server (in
        milliseconds, whatever the dependencies do), else live checks."""
        if self.monitor is not None:
            return self.monitor.report()
        checks = {"database": "ok", "signing_key": "ok"}
        for name, probe in (("database", self._schema_current), ("signing_key", self.keys.signer)):
            try:
                probe()
            except Exception as exc:  # any fault means not ready; its code is enough
                checks[name] = f"unavailable ({describe_failure(exc)})"
        return {**checks, **self.reachability()}

    def _schema_current(self) -> None:
        # One compatible step ahead is ready: expand-then-contract (broker.store.migrate).
        verdict = migrate.readiness(self.db.engine)
        if verdict != "ok":
            raise Unavailable(verdict, reason=Reason.DATABASE_UNAVAILABLE)

    async def start_background(self) -> None:
        """For a server: the keyset reloads and the readiness checks run in worker threads
        from now on (broker.services.health); the first round is done on return."""
        if self.monitor is not None:
            return
        self.keys.reloads_in_background = True
        checks = [
            Check("database", self._schema_current),
            Check("signing_key", lambda: self.keys.reload().signer(self.clock())),
            Check("secret_backend", self._probe_secrets),
            Check("signer", self.keys.check),
        ]
        self.monitor = Monitor(checks, clock=self.clock, deadline=self.settings.secret_deadline)
        await self.monitor.start()

    async def stop_background(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()
            self.monitor = None
        self.keys.reloads_in_background = False

    def _probe_secrets(self) -> None:
        check = getattr(self.secrets, "check", None)
        if callable(check):
            check()
        else:
            self.secrets.names()

    def start_background_checkpoints(self) -> None:
        """For a server process: SQLite WAL checkpoints move off the request path."""
        if self.checkpointer is None:
            self.checkpointer = WalCheckpointer.for_engine(self.db.engine)
            if self.checkpointer is not None:
                self.checkpointer.start()

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.committer.close()
        self.db.engine.dispose()


def build_secret_store(settings: Settings, environ: Mapping[str, str] | None = None) -> SecretStore:
    """The configured backend. ``vault`` reads its connection from ``environ`` (default: the
    process environment): VAULT_ADDR, VAULT_TOKEN, CAPBROKER_VAULT_*
    (broker.secrets.vault.config)."""
    if settings.secret_backend == "local":
        return LocalFileStore(settings.data_dir / "secrets")
    if settings.secret_backend == "vault":
        from broker.secrets.vault.config import vault_config_from_env
        from broker.secrets.vault.kv import VaultSecretStore

        return VaultSecretStore(vault_config_from_env(os.environ if environ is None else environ))
    raise InvalidRequest(f"secret backend {settings.secret_backend!r} is not available")


def build_workload_exchange(
    settings: Settings,
    db: Database,
    audit: AuditWriter,
    clock: Clock,
    replay: ReplayStore | None = None,
) -> WorkloadExchange | None:
    """Trusted issuers from ``trusted_issuers_file``; a file with any problem is refused."""
    if not settings.trusted_issuers_file:
        return None
    issuers = load_issuers(Path(settings.trusted_issuers_file))
    return WorkloadExchange(issuers, db, audit, clock, replay=replay)


def build_signing_keys(
    settings: Settings, db: Database, store: SecretStore, audit: AuditWriter, clock: Clock
) -> SigningKeys:
    """``signer: local`` keys in the secret store, or ``signer: transit`` keys in Vault."""
    # A retired key must outlive every token it signed plus the skew verifiers allow.
    lifetime = settings.max_token_ttl + settings.leeway + settings.key_propagation_delay
    if settings.signer == "transit":
        from broker.secrets.vault.kv import VaultSecretStore
        from broker.secrets.vault.transit import VaultTransit

        if not isinstance(store, VaultSecretStore):
            raise InvalidRequest("signer 'transit' needs the vault secret backend")
        retired = [
            VaultTransit(store.session, mount=settings.transit_mount, key=name.strip())
            for name in settings.transit_retired_keys.split(",")
            if name.strip()
        ]
        return TransitSigningKeys(
            VaultTransit(store.session, mount=settings.transit_mount, key=settings.transit_key),
            db,
            audit,
            clock,
            propagation_delay=settings.key_propagation_delay,
            max_token_lifetime=lifetime,
            algorithm=settings.signing_algorithm,
            retired=retired,
        )
    return LocalSigningKeys(
        db,
        store,
        audit,
        clock,
        propagation_delay=settings.key_propagation_delay,
        max_token_lifetime=lifetime,
        algorithm=settings.signing_algorithm,
    )


# "upgrade": bring the schema up to date (servers, `capbroker migrate`, commands that write).
# "current": a command that only reads; the schema must already be current (see open_engine).
Schema = Literal["upgrade", "current"]


def open_engine(settings: Settings, schema: Schema) -> Engine:
    """The database's engine, with its schema brought up to date or checked current.

    Checking creates nothing (no directory, no file, no table): a SQLite database that does
    not exist yet, or a schema that is not current, is ``Unavailable`` and names the command
    that makes it so.
    """
    missing = _missing_sqlite_file(settings.effective_database_url)
    if schema == "current" and missing:
        raise Unavailable(f"no database at {missing} yet: run `capbroker migrate` first")
    engine = make_engine(
        settings.effective_database_url,
        Timeouts.of(settings),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    if schema == "upgrade":
        migrate.upgrade(engine)
        return engine
    try:
        current = not migrate.pending(engine)
    except OperationalError:
        current = None
    if current:
        return engine
    engine.dispose()
    if current is None:
        raise Unavailable("the database cannot be reached")
    raise Unavailable("the database schema is not current: run `capbroker migrate` first")


def _missing_sqlite_file(url: str) -> str | None:
    """The SQLite file ``url`` names if it does not exist (connecting would create it)."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    return None if Path(path).exists() else path


def build_services(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    secrets: SecretStore | None = None,
    writer: str | None = None,
    schema: Schema = "upgrade",
    environ: Mapping[str, str] | None = None,
) -> Services:
    """Every service over the configured store. Nothing is written here beyond what
    ``schema`` asks; the first signing key is the caller's to make (``keys.ensure_key``),
    as ``capbroker serve`` and ``capbroker migrate`` do."""
    db = Database(open_engine(settings, schema), wait_seconds=settings.database_wait)
    store = secrets if secrets is not None else build_secret_store(settings, environ)
    audit = AuditWriter(
        writer=writer or f"broker@{socket.gethostname()}:{os.getpid()}", clock=clock
    )
    keys = build_signing_keys(settings, db, store, audit, clock)
    templates = TemplateService(db, audit, clock, ttl_ceiling=settings.max_token_ttl)
    verifier = TokenVerifier(
        keys.resolve,
        issuer=settings.effective_issuer,
        audience=settings.audience,
        leeway=settings.leeway,
        max_lifetime=settings.max_token_ttl,
        algorithms=settings.accepted_algorithms,
    )
    authenticator = Authenticator(db, audit, clock=clock, cache_ttl=settings.credential_cache_ttl)
    kills = KillService(db, audit, clock)
    replay = DatabaseReplay(db, clock)
    resource_servers = ResourceServerService(db, audit, clock)
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
            kills,
            issuer=settings.effective_issuer,
            audience=settings.audience,
            ttl_ceiling=settings.max_token_ttl,
            signing_calls=BlockingCalls(
                "signer", Reason.SECRET_BACKEND_UNAVAILABLE, deadline=settings.secret_deadline
            ),
        ),
        committer=GroupCommit(db),
        kills=kills,
        approvals=ApprovalService(db, audit, clock, ttl=settings.approval_ttl),
        resource_servers=resource_servers,
        replay=replay,
        client_assertions=ClientAssertions(
            resource_servers,
            replay,
            db,
            audit,
            clock,
            issuer=settings.effective_issuer,
            leeway=settings.leeway,
        ),
        identity=build_workload_exchange(settings, db, audit, clock, replay),
        dpop=DPoPVerifier(max_age=settings.dpop_max_age),
    )
