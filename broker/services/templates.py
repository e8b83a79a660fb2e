"""Capability templates and the policy floor: versioned, applied idempotently, diffed."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from sqlalchemy import Connection, bindparam, func, select

from broker.audit.writer import AuditWriter
from broker.clock import Clock
from broker.domain.grants import check_template_against_ceiling
from broker.domain.policy import EMPTY_FLOOR, PolicyFloor, floor_from_spec, floor_to_spec
from broker.domain.templates import Template, spec_digest, template_from_spec, template_to_spec
from broker.errors import InvalidRequest, NotFound, Reason
from broker.manifests import Manifest
from broker.store.database import Database, Tx
from broker.store.tables import PolicyFloorVersion, TemplateVersion

_templates = TemplateVersion.__table__  # type: ignore[attr-defined]
_floors = PolicyFloorVersion.__table__  # type: ignore[attr-defined]
_LATEST_TEMPLATE = (
    select(_templates)
    .where(_templates.c.name == bindparam("name"))
    .order_by(_templates.c.version.desc())
    .limit(1)
)
_LATEST_FLOOR = select(_floors).order_by(_floors.c.version.desc()).limit(1)
TEMPLATE_KIND = "CapabilityTemplate"
FLOOR_KIND = "PolicyFloor"


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: Literal["create", "update", "unchanged"]
    from_version: int | None
    to_version: int | None
    diff: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TemplateRecord:
    template: Template
    version: int
    digest: str
    created_at: float
    created_by: str
    spec: dict[str, Any]


def _event_prefix(kind: str) -> str:
    return "template" if kind == TEMPLATE_KIND else "policy"


def _yaml(spec: dict[str, Any] | None) -> list[str]:
    if spec is None:
        return []
    return yaml.safe_dump(spec, sort_keys=True, default_flow_style=False).splitlines()


class TemplateService:
    def __init__(
        self,
        db: Database,
        audit: AuditWriter,
        clock: Clock,
        *,
        ttl_ceiling: int,
        refresh_seconds: float = 1.0,
    ) -> None:
        self.db, self.audit, self.clock = db, audit, clock
        self.ttl_ceiling = ttl_ceiling
        self.refresh_seconds = refresh_seconds
        # Parsed templates by name and digest: a stored version never changes, so this never
        # goes stale.
        self._parsed: dict[tuple[str, str], tuple[Template, dict[str, Any]]] = {}
        # The newest version of each template and the floor, re-read at most every
        # refresh_seconds (a change applied by another process shows within that time;
        # one applied here shows at once).
        self._latest: dict[str, tuple[float, TemplateRecord]] = {}
        self._floor: tuple[float, PolicyFloor, int] | None = None

    # --- reading -------------------------------------------------------------------------

    def latest(self, conn: Connection, name: str) -> TemplateRecord:
        now = self.clock()
        cached = self._latest.get(name)
        if cached is not None and now - cached[0] < self.refresh_seconds:
            return cached[1]
        row = conn.execute(_LATEST_TEMPLATE, {"name": name}).first()
        if row is None:
            raise NotFound(f"template {name!r} does not exist", reason=Reason.UNKNOWN_TEMPLATE)
        record = self._record(row)
        self._latest[name] = (now, record)
        return record

    def forget_cached(self) -> None:
        self._latest.clear()
        self._floor = None

    def version(self, conn: Connection, name: str, version: int) -> TemplateRecord:
        row = conn.execute(
            select(_templates).where(_templates.c.name == name, _templates.c.version == version)
        ).first()
        if row is None:
            raise NotFound(
                f"template {name!r} has no version {version}", reason=Reason.UNKNOWN_TEMPLATE
            )
        return self._record(row)

    def history(self, conn: Connection, name: str) -> list[TemplateRecord]:
        rows = conn.execute(
            select(_templates).where(_templates.c.name == name).order_by(_templates.c.version)
        ).all()
        if not rows:
            raise NotFound(f"template {name!r} does not exist", reason=Reason.UNKNOWN_TEMPLATE)
        return [self._record(r) for r in rows]

    def list_latest(self, conn: Connection) -> list[TemplateRecord]:
        newest = (
            select(_templates.c.name, func.max(_templates.c.version).label("v"))
            .group_by(_templates.c.name)
            .subquery()
        )
        rows = conn.execute(
            select(_templates)
            .join(
                newest, (newest.c.name == _templates.c.name) & (newest.c.v == _templates.c.version)
            )
            .order_by(_templates.c.name)
        ).all()
        return [self._record(r) for r in rows]

    def floor(self, conn: Connection) -> tuple[PolicyFloor, int]:
        now = self.clock()
        if self._floor is not None and now - self._floor[0] < self.refresh_seconds:
            return self._floor[1], self._floor[2]
        row = conn.execute(_LATEST_FLOOR).first()
        floor, version = (
            (EMPTY_FLOOR, 0)
            if row is None
            else (floor_from_spec(json.loads(row.spec)), row.version)
        )
        self._floor = (now, floor, version)
        return floor, version

    def _record(self, row: Any) -> TemplateRecord:
        # Keyed by name too: two templates with the same spec are still two templates.
        parsed = self._parsed.get((row.name, row.digest))
        if parsed is None:
            spec = json.loads(row.spec)
            parsed = (template_from_spec(row.name, spec), spec)
            self._parsed[(row.name, row.digest)] = parsed
        template, spec = parsed
        return TemplateRecord(
            template, row.version, row.digest, row.created_at, row.created_by, spec
        )

    # --- writing -------------------------------------------------------------------------

    def apply(
        self,
        manifests: Sequence[Manifest],
        *,
        actor: str,
        dry_run: bool,
        also: Callable[[Tx], list[Change]] | None = None,
    ) -> list[Change]:
        """Make the store match the manifests. Idempotent: unchanged specs make no version.
        ``also`` applies other kinds (resource servers) in the same transaction."""
        canonical = [(m, self._canonical(m)) for m in manifests]
        with self.db.transaction() as tx:
            tx.after_commit(self.forget_cached)
            changes = [self._apply_one(tx.conn, m, spec, actor, dry_run) for m, spec in canonical]
            for change in changes:
                if change.action != "unchanged" and not dry_run:
                    self.audit.append(
                        tx,
                        type=f"{_event_prefix(change.kind)}.{change.action}d",
                        actor=actor,
                        subject=f"{change.kind}:{change.name}",
                        data={"from_version": change.from_version, "to_version": change.to_version},
                    )
            if also is not None:
                changes += also(tx)  # audits its own changes
        return changes

    def _canonical(self, m: Manifest) -> dict[str, Any]:
        if m.kind == TEMPLATE_KIND:
            template = template_from_spec(m.name, m.spec)
            problems = check_template_against_ceiling(template, self.ttl_ceiling)
            if problems:
                raise InvalidRequest(
                    f"{m.source}: " + "; ".join(problems), reason=Reason.INVALID_MANIFEST
                )
            return template_to_spec(template)
        if m.kind == FLOOR_KIND:
            return floor_to_spec(floor_from_spec(m.spec))
        raise InvalidRequest(f"{m.source}: unknown kind {m.kind!r}", reason=Reason.INVALID_MANIFEST)

    def _apply_one(
        self, conn: Connection, m: Manifest, spec: dict[str, Any], actor: str, dry_run: bool
    ) -> Change:
        table = _templates if m.kind == TEMPLATE_KIND else _floors
        stmt = select(table).order_by(table.c.version.desc()).limit(1)
        if m.kind == TEMPLATE_KIND:
            stmt = stmt.where(table.c.name == m.name)
        current = conn.execute(stmt).first()
        digest = spec_digest(spec)
        old_spec = json.loads(current.spec) if current is not None else None
        if current is not None and current.digest == digest:
            return Change(m.kind, m.name, "unchanged", current.version, current.version)
        version = (current.version if current is not None else 0) + 1
        diff = list(
            difflib.unified_diff(
                _yaml(old_spec),
                _yaml(spec),
                f"{m.name} v{current.version}" if current is not None else "/dev/null",
                f"{m.name} v{version}",
                lineterm="",
            )
        )
        if not dry_run:
            values: dict[str, Any] = {
                "version": version,
                "spec": json.dumps(spec, sort_keys=True),
                "digest": digest,
                "created_at": self.clock(),
                "created_by": actor,
            }
            if m.kind == TEMPLATE_KIND:
                values["name"] = m.name
            conn.execute(table.insert().values(**values))
        return Change(
            m.kind,
            m.name,
            "create" if current is None else "update",
            current.version if current is not None else None,
            version,
            diff,
        )
