"""The replica's objects, as immutable values.

Attribute names are the real schema's field names in snake_case (``createdAt`` ->
``created_at``), so one resolver reads every plain field. A field of the real schema that has
no attribute here (and no resolver) answers "not implemented by the replica". Attributes
that are no field of their type (``Variable.value``, ``VolumeInstanceBackup.volume_instance_id``,
``ProjectToken.token_hash``) are never reachable: validation refuses a field the schema lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

TokenKind = Literal["account", "workspace", "project"]


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    username: str
    created_at: str
    workspace_ids: tuple[str, ...]


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    description: str | None
    workspace_id: str
    created_at: str
    updated_at: str
    deleted_at: str | None = None
    is_public: bool = False
    is_temp_project: bool = False


@dataclass(frozen=True)
class Environment:
    id: str
    name: str
    project_id: str
    created_at: str
    updated_at: str
    is_ephemeral: bool = False
    deleted_at: str | None = None
    can_access: bool = True


@dataclass(frozen=True)
class Service:
    """``environment_ids``: the environments the service has an instance in."""

    id: str
    name: str
    project_id: str
    environment_ids: tuple[str, ...]
    created_at: str
    updated_at: str
    icon: str | None = None
    deleted_at: str | None = None
    is_restricted: bool = False


@dataclass(frozen=True)
class ServiceInstance:
    """A service in one environment (derived from ``Service.environment_ids``, not stored)."""

    id: str
    service_id: str
    service_name: str
    environment_id: str
    created_at: str
    updated_at: str
    region: str | None = "us-west2"
    num_replicas: int | None = 1
    deleted_at: str | None = None


@dataclass(frozen=True)
class Deployment:
    id: str
    project_id: str
    environment_id: str
    service_id: str
    status: str  # a DeploymentStatus value
    created_at: str
    updated_at: str
    can_redeploy: bool = True
    can_rollback: bool = True
    deployment_stopped: bool = False
    static_url: str | None = None


@dataclass(frozen=True)
class Variable:
    """One variable; ``service_id`` None is an environment's shared variable."""

    id: str
    name: str
    value: str
    environment_id: str
    service_id: str | None
    created_at: str
    updated_at: str
    is_sealed: bool = False
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    project_id: str
    created_at: str


@dataclass(frozen=True)
class VolumeInstance:
    id: str
    volume_id: str
    environment_id: str
    service_id: str | None
    mount_path: str
    size_mb: int
    created_at: str
    current_size_mb: float = 0.0
    state: str | None = "READY"  # a VolumeState value
    region: str | None = "us-west2"
    is_pending_deletion: bool = False
    deleted_at: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class VolumeInstanceBackup:
    """A backup carries no environment in the schema; the replica keeps its instance."""

    id: str
    volume_instance_id: str
    name: str | None
    external_id: str
    created_at: str
    expires_at: str | None
    creator_id: str | None = None
    schedule_id: str | None = None
    used_mb: int | None = None
    referenced_mb: int | None = None
    volume_instance_size_mb: int | None = None


@dataclass(frozen=True)
class BackupSchedule:
    id: str
    volume_instance_id: str
    kind: str  # DAILY | WEEKLY | MONTHLY
    name: str
    cron: str
    created_at: str
    retention_seconds: int | None = None


@dataclass(frozen=True)
class TokenGrant:
    """What a token may reach, stored under the token's hash (never the token)."""

    kind: TokenKind
    user_id: str | None = None  # account tokens
    workspace_id: str | None = None  # workspace tokens
    project_id: str | None = None  # project tokens
    environment_id: str | None = None  # project tokens
    token_id: str | None = None  # project tokens: their ProjectToken record


@dataclass(frozen=True)
class ProjectToken:
    id: str
    name: str
    project_id: str
    environment_id: str
    display_token: str  # a masked hint, never the token
    token_hash: str
    created_at: str


@dataclass(frozen=True)
class Workflow:
    """A backup workflow the replica ran at once (create, delete, restore)."""

    workflow_id: str
    kind: str
    volume_instance_id: str
    backup_id: str


def iso_time(seconds: float) -> str:
    """RFC 3339 UTC with a ``Z`` suffix and milliseconds, as Railway renders ``DateTime``."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
