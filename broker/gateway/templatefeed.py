"""Each template's current version as the gateway knows it, read with the revocations.

The revocation feed reads this on every poll (``RevocationFeed``), so a newer version
reaches every gateway within the revocation interval and goes stale with it (fail
closed). A poll reads each template's newest version number (an index-only read of the
primary key) and the spec only of those that changed; a template with no version left in
the store is gone, and tokens issued from it are refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection

from broker.domain.following import CurrentTemplate
from broker.domain.problems import SpecError
from broker.domain.templates import template_from_spec
from broker.store.raw import RawStatement

log = logging.getLogger("capbroker.gateway")

_NEWEST = RawStatement("SELECT name, max(version) FROM template_versions GROUP BY name")
_SPEC = RawStatement("SELECT spec FROM template_versions WHERE name = :name AND version = :version")


@dataclass(frozen=True)
class TemplateChanges:
    """What a poll found: every template's newest version, with the ones that changed."""

    newest: Mapping[str, int]
    changed: Mapping[str, CurrentTemplate | None]  # None: its spec cannot be read


@dataclass
class CurrentTemplates:
    """Template name -> its newest version; replaced whole on each poll, so a reader on
    another thread always sees one poll's state."""

    by_name: Mapping[str, CurrentTemplate | None] = field(default_factory=dict)

    def get(self, name: str) -> CurrentTemplate | None:
        return self.by_name.get(name)

    def fetch(self, conn: Connection) -> TemplateChanges:
        """The database half (safe in a worker thread: it only reads ``by_name``)."""
        known = self.by_name
        newest = {str(name): int(version) for name, version in _NEWEST.fetch_all(conn, {})}
        changed: dict[str, CurrentTemplate | None] = {}
        for name, version in newest.items():
            current = known.get(name)
            if current is not None and current.version == version:
                continue
            row = _SPEC.fetch_one(conn, {"name": name, "version": version})
            changed[name] = _parsed(name, version, row[0] if row is not None else None)
        return TemplateChanges(newest, changed)

    def apply(self, changes: TemplateChanges) -> None:
        known = self.by_name
        self.by_name = {
            name: changes.changed[name] if name in changes.changed else known.get(name)
            for name in changes.newest
        }


def _parsed(name: str, version: int, spec: str | None) -> CurrentTemplate | None:
    """A stored spec as a template; None (its tokens refused) if it cannot be read."""
    try:
        return CurrentTemplate(version, template_from_spec(name, json.loads(spec or "")))
    except (ValueError, TypeError, AttributeError, SpecError):
        log.warning("template %s version %d cannot be read; refusing its tokens", name, version)
        return None
