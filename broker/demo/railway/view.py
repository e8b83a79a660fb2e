"""What one token sees of the tables: lookups by id and the lists connections page over.

Pure: tables and an ``Access`` in, records out. An unknown id raises ``NotFound``; an object
outside the token's reach raises ``NotAuthorized`` (lists simply leave it out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from broker.demo.railway.access import Access
from broker.demo.railway.errors import NotAuthorized, NotFound
from broker.demo.railway.records import (
    BackupSchedule,
    Deployment,
    Environment,
    Project,
    Service,
    ServiceInstance,
    User,
    Variable,
    Volume,
    VolumeInstance,
    VolumeInstanceBackup,
    Workspace,
)
from broker.demo.railway.seed import Tables, railway_id

V = TypeVar("V")


def _get(table: Mapping[str, V], key: str, kind: str) -> V:
    try:
        return table[key]
    except KeyError:
        raise NotFound(kind) from None


def _service_instance(service: Service, environment_id: str) -> ServiceInstance:
    instance_id = railway_id("service-instance", service.id, environment_id)
    return ServiceInstance(
        instance_id,
        service.id,
        service.name,
        environment_id,
        service.created_at,
        service.updated_at,
    )


@dataclass(frozen=True)
class View:
    tables: Tables
    access: Access

    # --- account and workspaces ---------------------------------------------------------

    def me(self) -> User:
        if self.access.grant.kind != "account":
            raise NotAuthorized()
        return _get(self.tables.users, self.access.grant.user_id or "", "User")

    def workspace(self, workspace_id: str) -> Workspace:
        found = _get(self.tables.workspaces, workspace_id, "Workspace")
        if not self.access.sees_workspace(workspace_id):
            raise NotAuthorized()
        return found

    def workspaces(self, user: User) -> list[Workspace]:
        return [self.workspace(w) for w in user.workspace_ids if w in self.tables.workspaces]

    # --- projects and what hangs off them ----------------------------------------------

    def project(self, project_id: str) -> Project:
        found = _get(self.tables.projects, project_id, "Project")
        if not self.access.sees_project(found):
            raise NotAuthorized()
        return found

    def projects(self, workspace_id: str | None = None) -> list[Project]:
        return [
            p
            for p in self.tables.projects.values()
            if self.access.sees_project(p) and workspace_id in (None, p.workspace_id)
        ]

    def environment(self, environment_id: str, project_id: str | None = None) -> Environment:
        found = _get(self.tables.environments, environment_id, "Environment")
        if project_id is not None and found.project_id != project_id:
            raise NotFound("Environment")
        if not self.access.sees_environment(found, self._project_of(found)):
            raise NotAuthorized()
        return found

    def environments(self, project_id: str) -> list[Environment]:
        project = self.project(project_id)
        return [
            e
            for e in self.tables.environments.values()
            if e.project_id == project_id and self.access.sees_environment(e, project)
        ]

    def service(self, service_id: str) -> Service:
        found = _get(self.tables.services, service_id, "Service")
        self.project(found.project_id)
        return found

    def services(self, project_id: str) -> list[Service]:
        self.project(project_id)
        return [s for s in self.tables.services.values() if s.project_id == project_id]

    def service_instances(
        self, *, service_id: str | None = None, environment_id: str | None = None
    ) -> list[ServiceInstance]:
        """One per (service, environment) the service runs in, that the token may see."""
        return [
            _service_instance(s, env)
            for s in self.tables.services.values()
            if service_id in (None, s.id)
            for env in s.environment_ids
            if environment_id in (None, env) and self.visible_environment(env)
        ]

    def service_instance(self, environment_id: str, service_id: str) -> ServiceInstance:
        self.environment(environment_id)
        self.service(service_id)
        found = self.service_instances(service_id=service_id, environment_id=environment_id)
        if not found:
            raise NotFound("ServiceInstance")
        return found[0]

    def volume(self, volume_id: str) -> Volume:
        found = _get(self.tables.volumes, volume_id, "Volume")
        self.project(found.project_id)
        return found

    def volumes(self, project_id: str) -> list[Volume]:
        self.project(project_id)
        return [v for v in self.tables.volumes.values() if v.project_id == project_id]

    # --- what lives in one environment ---------------------------------------------------

    def visible_environment(self, environment_id: str) -> bool:
        env = self.tables.environments.get(environment_id)
        return env is not None and self.access.sees_environment(env, self._project_of(env))

    def deployment(self, deployment_id: str) -> Deployment:
        found = _get(self.tables.deployments, deployment_id, "Deployment")
        self.environment(found.environment_id)
        return found

    def deployments(self, where: Mapping[str, Any]) -> list[Deployment]:
        """``DeploymentListInput``: projectId, environmentId, serviceId, status {in, notIn}."""
        status = where.get("status") or {}
        wanted, unwanted = status.get("in"), status.get("notIn") or []
        return [
            d
            for d in reversed(self.tables.deployments.values())  # newest first, like Railway
            if self.visible_environment(d.environment_id)
            and where.get("projectId") in (None, d.project_id)
            and where.get("environmentId") in (None, d.environment_id)
            and where.get("serviceId") in (None, d.service_id)
            and (wanted is None or d.status in wanted)
            and d.status not in unwanted
        ]

    def variables(self, environment_id: str, service_id: str | None) -> list[Variable]:
        self.environment(environment_id)
        return [
            v
            for (env, svc, _), v in self.tables.variables.items()
            if env == environment_id and svc == service_id
        ]

    def environment_variables(self, environment_id: str) -> list[Variable]:
        """Every variable of the environment, shared and per service."""
        self.environment(environment_id)
        return [v for (env, _, _), v in self.tables.variables.items() if env == environment_id]

    def volume_instance(self, instance_id: str) -> VolumeInstance:
        found = _get(self.tables.volume_instances, instance_id, "VolumeInstance")
        self.environment(found.environment_id)
        return found

    def instances(
        self, *, volume_id: str | None = None, environment_id: str | None = None
    ) -> list[VolumeInstance]:
        return [
            i
            for i in self.tables.volume_instances.values()
            if volume_id in (None, i.volume_id)
            and environment_id in (None, i.environment_id)
            and self.visible_environment(i.environment_id)
        ]

    def backup(self, backup_id: str) -> VolumeInstanceBackup:
        found = _get(self.tables.backups, backup_id, "VolumeInstanceBackup")
        self.volume_instance(found.volume_instance_id)
        return found

    def backups(self, instance_id: str) -> list[VolumeInstanceBackup]:
        self.volume_instance(instance_id)
        return [b for b in self.tables.backups.values() if b.volume_instance_id == instance_id]

    def schedules(self, instance_id: str) -> list[BackupSchedule]:
        self.volume_instance(instance_id)
        return [s for s in self.tables.schedules.values() if s.volume_instance_id == instance_id]

    def _project_of(self, environment: Environment) -> Project:
        return _get(self.tables.projects, environment.project_id, "Project")
