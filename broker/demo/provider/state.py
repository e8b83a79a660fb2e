"""``ProviderState``: the in-memory provider, safe to share between the server thread and tests.

Every method takes the state's lock, so a test (or the demo) may read and change the state
while the server runs in another thread. Unknown ids raise ``UnknownObject``; the GraphQL
layer turns it into a GraphQL error. ``volume_delete`` asks for no confirmation, like the
real API in the incident.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TypeVar

from broker.clock import Clock, system_clock
from broker.demo.provider.records import (
    Deployment,
    Environment,
    Project,
    Service,
    Variable,
    Volume,
    VolumeBackup,
    iso_time,
)
from broker.demo.provider.seed import seed_tables

V = TypeVar("V")


class UnknownObject(LookupError):
    """An id (or variable name) the provider does not know."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} not found: {key}")
        self.kind = kind
        self.key = key


class ProviderState:
    def __init__(self, clock: Clock = system_clock) -> None:
        self._clock = clock
        self.lock = threading.RLock()
        self._t = seed_tables(clock())

    def reset(self) -> None:
        """Back to a fresh seed, in place (references to this object stay valid)."""
        with self.lock:
            self._t = seed_tables(self._clock())

    # --- lookups -----------------------------------------------------------------------

    def project(self, project_id: str) -> Project:
        with self.lock:
            return _get(self._t.projects, project_id, "project")

    def projects(self) -> list[Project]:
        with self.lock:
            return list(self._t.projects.values())

    def environment(self, environment_id: str) -> Environment:
        with self.lock:
            return _get(self._t.environments, environment_id, "environment")

    def environments(self, project_id: str) -> list[Environment]:
        with self.lock:
            self.project(project_id)
            return [e for e in self._t.environments.values() if e.project_id == project_id]

    def service(self, service_id: str) -> Service:
        with self.lock:
            return _get(self._t.services, service_id, "service")

    def services(self, project_id: str) -> list[Service]:
        with self.lock:
            self.project(project_id)
            return [s for s in self._t.services.values() if s.project_id == project_id]

    def deployment(self, deployment_id: str) -> Deployment:
        with self.lock:
            return _get(self._t.deployments, deployment_id, "deployment")

    def deployments(self, environment_id: str, service_id: str | None = None) -> list[Deployment]:
        with self.lock:
            self.environment(environment_id)
            if service_id is not None:
                self.service(service_id)
            return [
                d
                for d in self._t.deployments.values()
                if d.environment_id == environment_id
                and (service_id is None or d.service_id == service_id)
            ]

    def variables(self, environment_id: str, service_id: str) -> list[Variable]:
        with self.lock:
            self._pair(environment_id, service_id)
            return [
                v
                for (env, svc, _), v in self._t.variables.items()
                if env == environment_id and svc == service_id
            ]

    def volume(self, volume_id: str) -> Volume:
        with self.lock:
            return _get(self._t.volumes, volume_id, "volume")

    def volumes(self, project_id: str) -> list[Volume]:
        with self.lock:
            self.project(project_id)
            return [v for v in self._t.volumes.values() if v.project_id == project_id]

    def volume_environments(self, volume_id: str) -> list[Environment]:
        with self.lock:
            return [self.environment(e) for e in self.volume(volume_id).environment_ids]

    def backup(self, backup_id: str) -> VolumeBackup:
        with self.lock:
            return _get(self._t.backups, backup_id, "volume backup")

    def volume_backups(self, volume_id: str) -> list[VolumeBackup]:
        with self.lock:
            self.volume(volume_id)
            return [b for b in self._t.backups.values() if b.volume_id == volume_id]

    # --- changes -----------------------------------------------------------------------

    def deployment_redeploy(self, environment_id: str, service_id: str) -> Deployment:
        """A new SUCCESS deployment; the previous live ones for that pair become REMOVED."""
        with self.lock:
            self._pair(environment_id, service_id)
            return self._deploy(environment_id, service_id)

    def deployment_rollback(self, deployment_id: str) -> Deployment:
        """Deploys the given deployment's service again, as a new deployment."""
        with self.lock:
            old = self.deployment(deployment_id)
            return self._deploy(old.environment_id, old.service_id)

    def variable_upsert(
        self, environment_id: str, service_id: str, name: str, value: str
    ) -> Variable:
        with self.lock:
            self._pair(environment_id, service_id)
            variable = Variable(name, value, environment_id, service_id)
            self._t.variables[(environment_id, service_id, name)] = variable
            return variable

    def variable_delete(self, environment_id: str, service_id: str, name: str) -> bool:
        with self.lock:
            self._pair(environment_id, service_id)
            if self._t.variables.pop((environment_id, service_id, name), None) is None:
                raise UnknownObject("variable", name)
            return True

    def volume_delete(self, volume_id: str) -> bool:
        """Deletes the volume from every environment, and every backup on it. No confirmation."""
        with self.lock:
            self.volume(volume_id)
            del self._t.volumes[volume_id]
            for backup_id in [b.id for b in self._t.backups.values() if b.volume_id == volume_id]:
                del self._t.backups[backup_id]
            return True

    def volume_backup_create(self, volume_id: str) -> VolumeBackup:
        """A backup on the volume, recorded against the first environment it is attached to."""
        with self.lock:
            volume = self.volume(volume_id)
            backup_id = f"bkp-{self._serial():04d}"
            backup = VolumeBackup(
                backup_id, volume_id, volume.environment_ids[0], iso_time(self._clock())
            )
            self._t.backups[backup_id] = backup
            return backup

    def volume_backup_delete(self, backup_id: str) -> bool:
        with self.lock:
            self.backup(backup_id)
            del self._t.backups[backup_id]
            return True

    def volume_backup_restore(self, backup_id: str) -> bool:
        """Volume contents are not modelled: restoring a known backup simply succeeds."""
        with self.lock:
            self.backup(backup_id)
            return True

    # --- helpers -----------------------------------------------------------------------

    def _pair(self, environment_id: str, service_id: str) -> None:
        env = self.environment(environment_id)
        svc = self.service(service_id)
        if env.project_id != svc.project_id:
            raise UnknownObject("service in environment", service_id)

    def _serial(self) -> int:
        serial = self._t.next_serial
        self._t.next_serial += 1
        return serial

    def _deploy(self, environment_id: str, service_id: str) -> Deployment:
        for d in list(self._t.deployments.values()):
            live = d.status == "SUCCESS"
            if live and d.environment_id == environment_id and d.service_id == service_id:
                self._t.deployments[d.id] = replace(d, status="REMOVED")
        dep_id = f"dep-{self._serial():04d}"
        new = Deployment(dep_id, service_id, environment_id, "SUCCESS", iso_time(self._clock()))
        self._t.deployments[dep_id] = new
        return new


def seed_state(clock: Clock = system_clock) -> ProviderState:
    """A fresh provider holding the seed data."""
    return ProviderState(clock)


def _get(table: dict[str, V], key: str, kind: str) -> V:
    try:
        return table[key]
    except KeyError:
        raise UnknownObject(kind, key) from None
