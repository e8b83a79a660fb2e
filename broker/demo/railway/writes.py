"""The mutations the replica implements, over the tables, checked through the token's view.

Arguments arrive as the real schema names them (``input`` objects as dicts, coerced by
graphql-core). Like the real API in the incident, nothing asks for confirmation:
``volumeDelete`` removes the volume from every environment, backups included.

Where the real API's behaviour is not published, the replica takes the worst case a gateway
must defend against, and says so: a backup mutation acts on the backup named by
``volumeInstanceBackupId`` whatever ``volumeInstanceId`` says (nothing in one call proves the
pair belongs together), and a project token may act on a project-level object (a volume, a
service) that has an instance in its environment, which reaches every environment.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from broker.demo.railway.errors import BadInput, NotAuthorized, NotFound
from broker.demo.railway.records import (
    BackupSchedule,
    Deployment,
    Environment,
    Variable,
    VolumeInstanceBackup,
    Workflow,
    iso_time,
)
from broker.demo.railway.seed import Tables, add_project_token
from broker.demo.railway.view import View

Args = Mapping[str, Any]
_CRON = {"DAILY": "0 3 * * *", "WEEKLY": "0 3 * * 0", "MONTHLY": "0 3 1 * *"}
_RETENTION_DAYS = {"DAILY": 6, "WEEKLY": 30, "MONTHLY": 90}


@dataclass
class Writes:
    """One request's changes: ``new_id(kind)`` makes deterministic ids, ``now`` is seconds."""

    tables: Tables
    view: View
    now: float
    new_id: Callable[[str], str]

    @property
    def _at(self) -> str:
        return iso_time(self.now)

    # --- variables -------------------------------------------------------------------------

    def _target(self, given: Args) -> tuple[str, str | None]:
        """(environment id, service id) of a variable input, checked against its project."""
        env = self.view.environment(given["environmentId"], given["projectId"])
        service_id = given.get("serviceId")
        if service_id is not None and self.view.service(service_id).project_id != env.project_id:
            raise NotFound("Service")
        return env.id, service_id

    def _put_variable(self, env_id: str, service_id: str | None, name: str, value: str) -> None:
        key = (env_id, service_id, name)
        old = self.tables.variables.get(key)
        if old is not None:
            self.tables.variables[key] = replace(old, value=value, updated_at=self._at)
            return
        self.tables.variables[key] = Variable(
            self.new_id("variable"), name, value, env_id, service_id, self._at, self._at
        )

    def variable_upsert(self, input: Args) -> bool:
        env_id, service_id = self._target(input)
        self._put_variable(env_id, service_id, input["name"], input["value"])
        return True

    def variable_delete(self, input: Args) -> bool:
        env_id, service_id = self._target(input)
        if self.tables.variables.pop((env_id, service_id, input["name"]), None) is None:
            raise NotFound("Variable")
        return True

    def variable_collection_upsert(self, input: Args) -> bool:
        """``replace: true`` deletes every other variable of that service and environment."""
        env_id, service_id = self._target(input)
        values = input["variables"]
        if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()
        ):
            raise BadInput("variables must be an object of string names to string values")
        if input.get("replace"):
            for key in [k for k in self.tables.variables if k[:2] == (env_id, service_id)]:
                del self.tables.variables[key]
        for name, value in values.items():
            self._put_variable(env_id, service_id, name, value)
        return True

    # --- services and deployments --------------------------------------------------------

    def _reaches_one(self, environment_ids: list[str]) -> None:
        """A project-level change needs the token to see one environment it touches."""
        if not any(self.view.visible_environment(e) for e in environment_ids):
            raise NotAuthorized()

    def service_delete(self, id: str, environmentId: str | None = None) -> bool:
        """With ``environmentId``: that environment's instance only; without: everywhere."""
        service = self.view.service(id)
        if environmentId is not None:
            env = self.view.environment(environmentId, service.project_id)
            gone = [env.id]
            left = tuple(e for e in service.environment_ids if e != env.id)
            self.tables.services[id] = replace(service, environment_ids=left)
        else:
            gone = list(service.environment_ids)
            self._reaches_one(gone)
            del self.tables.services[id]
        for key in [k for k in self.tables.variables if k[1] == id and k[0] in gone]:
            del self.tables.variables[key]
        for dep in list(self.tables.deployments.values()):
            if dep.service_id == id and dep.environment_id in gone:
                self.tables.deployments[dep.id] = replace(dep, status="REMOVED")
        for inst in list(self.tables.volume_instances.values()):
            if inst.service_id == id and inst.environment_id in gone:
                self.tables.volume_instances[inst.id] = replace(inst, service_id=None)
        return True

    def _deploy(self, like: Deployment) -> Deployment:
        for dep in list(self.tables.deployments.values()):
            same = (dep.environment_id, dep.service_id) == (like.environment_id, like.service_id)
            if same and dep.status == "SUCCESS":
                self.tables.deployments[dep.id] = replace(dep, status="REMOVED")
        new = replace(like, id=self.new_id("deployment"), status="SUCCESS", created_at=self._at)
        new = replace(new, updated_at=self._at)
        self.tables.deployments[new.id] = new
        return new

    def deployment_redeploy(self, id: str, usePreviousImageTag: bool | None = None) -> Deployment:
        return self._deploy(self.view.deployment(id))

    def deployment_rollback(self, id: str) -> bool:
        self._deploy(self.view.deployment(id))
        return True

    # --- volumes and their instances -----------------------------------------------------

    def volume_delete(self, volumeId: str) -> bool:
        """The volume and every instance of it, in every environment, with their backups."""
        self.view.volume(volumeId)
        instances = [i for i in self.tables.volume_instances.values() if i.volume_id == volumeId]
        self._reaches_one([i.environment_id for i in instances])
        del self.tables.volumes[volumeId]
        for inst in instances:
            del self.tables.volume_instances[inst.id]
            for table in (self.tables.backups, self.tables.schedules):
                for key in [k for k, v in table.items() if v.volume_instance_id == inst.id]:
                    del table[key]
        return True

    def volume_instance_update(
        self, volumeId: str, input: Args, environmentId: str | None = None
    ) -> bool:
        """One environment's instance when ``environmentId`` is given, every one otherwise.
        The schema says an absent ``serviceId`` disconnects the volume; so it does here."""
        volume = self.view.volume(volumeId)
        all_of_it = [i for i in self.tables.volume_instances.values() if i.volume_id == volumeId]
        if environmentId is not None:
            self.view.environment(environmentId, volume.project_id)
            targets = [i for i in all_of_it if i.environment_id == environmentId]
            if not targets:
                raise NotFound("VolumeInstance")
        else:
            targets = all_of_it
            self._reaches_one([i.environment_id for i in targets])
        service_id = input.get("serviceId")
        if service_id is not None and self.view.service(service_id).project_id != volume.project_id:
            raise NotFound("Service")
        for inst in targets:
            changed = replace(inst, service_id=service_id)
            if input.get("mountPath") is not None:
                changed = replace(changed, mount_path=input["mountPath"])
            if input.get("state") is not None:
                changed = replace(changed, state=input["state"])
            self.tables.volume_instances[inst.id] = changed
        return True

    # --- backups ---------------------------------------------------------------------------

    def _workflow(self, kind: str, instance_id: str, backup_id: str) -> dict[str, str]:
        flow = Workflow(self.new_id("workflow"), kind, instance_id, backup_id)
        self.tables.workflows.append(flow)
        return {"workflowId": flow.workflow_id}

    def _backup_named(self, backup_id: str, instance_id: str) -> VolumeInstanceBackup:
        """The instance must be the token's; the backup is NOT checked against it (worst case)."""
        self.view.volume_instance(instance_id)
        backup = self.tables.backups.get(backup_id)
        if backup is None:
            raise NotFound("VolumeInstanceBackup")
        return backup

    def volume_instance_backup_create(
        self, volumeInstanceId: str, name: str | None = None
    ) -> dict[str, str]:
        inst = self.view.volume_instance(volumeInstanceId)
        backup_id = self.new_id("backup")
        self.tables.backups[backup_id] = VolumeInstanceBackup(
            backup_id, inst.id, name, f"snap-{backup_id}", self._at, None,
            volume_instance_size_mb=inst.size_mb,
        )  # fmt: skip
        return self._workflow("create", inst.id, backup_id)

    def volume_instance_backup_delete(
        self, volumeInstanceBackupId: str, volumeInstanceId: str
    ) -> dict[str, str]:
        backup = self._backup_named(volumeInstanceBackupId, volumeInstanceId)
        del self.tables.backups[backup.id]
        return self._workflow("delete", volumeInstanceId, backup.id)

    def volume_instance_backup_restore(
        self,
        volumeInstanceBackupId: str,
        volumeInstanceId: str,
        replicaServiceIds: list[str] | None = None,
        wipeServiceIds: list[str] | None = None,
    ) -> dict[str, str]:
        """Contents are not modelled: the restore is recorded as a workflow."""
        backup = self._backup_named(volumeInstanceBackupId, volumeInstanceId)
        return self._workflow("restore", volumeInstanceId, backup.id)

    def volume_instance_backup_lock(
        self, volumeInstanceBackupId: str, volumeInstanceId: str
    ) -> bool:
        """A locked backup never expires."""
        backup = self._backup_named(volumeInstanceBackupId, volumeInstanceId)
        self.tables.backups[backup.id] = replace(backup, expires_at=None)
        return True

    def volume_instance_backup_schedule_update(
        self, kinds: list[str], volumeInstanceId: str
    ) -> bool:
        """The instance's schedules become exactly ``kinds``: an empty list stops backups."""
        inst = self.view.volume_instance(volumeInstanceId)
        for key in [k for k, s in self.tables.schedules.items() if s.volume_instance_id == inst.id]:
            del self.tables.schedules[key]
        for kind in dict.fromkeys(kinds):
            schedule_id = self.new_id("schedule")
            self.tables.schedules[schedule_id] = BackupSchedule(
                schedule_id, inst.id, kind, kind.title(), _CRON[kind], self._at,
                retention_seconds=_RETENTION_DAYS[kind] * 86_400,
            )  # fmt: skip
        return True

    # --- tokens and environments ---------------------------------------------------------

    def project_token_create(self, input: Args) -> str:
        """The token is returned once; the replica keeps only its hash."""
        self.view.access.require_account_or_workspace()
        env = self.view.environment(input["environmentId"], input["projectId"])
        token = secrets.token_urlsafe(24)
        scope = (env.project_id, env.id)
        add_project_token(
            self.tables, self.new_id("project-token"), input["name"], token, scope, self._at
        )
        return token

    def environment_create(self, input: Args) -> Environment:
        """With ``sourceEnvironmentId``: its services, variables and volumes come along; the
        new environment's volume instances are instances of the SAME volumes."""
        self.view.access.require_account_or_workspace()
        project = self.view.project(input["projectId"])
        name = input["name"]
        if any(
            e.project_id == project.id and e.name == name for e in self.tables.environments.values()
        ):
            raise BadInput(f"An environment named {name} already exists in this project")
        source_id = input.get("sourceEnvironmentId")
        source = None if source_id is None else self.view.environment(source_id, project.id)
        env = Environment(
            self.new_id("environment"), name, project.id, self._at, self._at,
            is_ephemeral=bool(input.get("ephemeral")),
        )  # fmt: skip
        self.tables.environments[env.id] = env
        if source is not None:
            self._copy_environment(source.id, env.id)
        return env

    def _copy_environment(self, source_id: str, target_id: str) -> None:
        for svc in list(self.tables.services.values()):
            if source_id in svc.environment_ids:
                ids = (*svc.environment_ids, target_id)
                self.tables.services[svc.id] = replace(svc, environment_ids=ids)
        for (env, service_id, name), var in list(self.tables.variables.items()):
            if env == source_id:
                self._put_variable(target_id, service_id, name, var.value)
        for inst in list(self.tables.volume_instances.values()):
            if inst.environment_id == source_id:
                copy = replace(inst, id=self.new_id("volume-instance"), environment_id=target_id)
                self.tables.volume_instances[copy.id] = replace(copy, created_at=self._at)
