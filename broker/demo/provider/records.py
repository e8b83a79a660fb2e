"""The provider's objects, as immutable values (field names are the GraphQL ones in snake_case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Project:
    id: str
    name: str


@dataclass(frozen=True)
class Environment:
    id: str
    name: str
    project_id: str


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    project_id: str


@dataclass(frozen=True)
class Deployment:
    id: str
    service_id: str
    environment_id: str
    status: str
    created_at: str


@dataclass(frozen=True)
class Variable:
    name: str
    value: str
    environment_id: str
    service_id: str


@dataclass(frozen=True)
class Volume:
    """One volume; ``environment_ids`` lists every environment it is attached to, in order."""

    id: str
    name: str
    project_id: str
    environment_ids: tuple[str, ...]


@dataclass(frozen=True)
class VolumeBackup:
    id: str
    volume_id: str
    environment_id: str
    created_at: str


def iso_time(seconds: float) -> str:
    """RFC 3339 UTC time with a ``Z`` suffix, as GraphQL APIs usually render ``createdAt``."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")
