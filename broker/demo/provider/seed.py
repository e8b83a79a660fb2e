"""The seed: one project whose postgres volume is shared by staging and production.

This is the shape of the incident: ``vol-pg`` is attached to both environments, and its
backups live on the volume, so one ``volumeDelete`` takes the production data and every
backup with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

PROJECT_ID = "proj-acme"
STAGING = "env-staging"
PRODUCTION = "env-production"
SHARED_VOLUME = "vol-pg"

VariableKey = tuple[str, str, str]  # (environment id, service id, name)


@dataclass
class Tables:
    """Everything the provider knows. Dicts keep insertion order, which the API reports."""

    projects: dict[str, Project] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    variables: dict[VariableKey, Variable] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    backups: dict[str, VolumeBackup] = field(default_factory=dict)
    next_serial: int = 1


def seed_tables(now: float) -> Tables:
    """A fresh copy of the seed, with ``createdAt`` times taken from ``now``."""
    at = iso_time(now)
    t = Tables()
    t.projects[PROJECT_ID] = Project(PROJECT_ID, "acme")
    for env_id, name in ((STAGING, "staging"), (PRODUCTION, "production")):
        t.environments[env_id] = Environment(env_id, name, PROJECT_ID)
    for svc_id, name in (("svc-api", "api"), ("svc-web", "web")):
        t.services[svc_id] = Service(svc_id, name, PROJECT_ID)
    for svc_id, svc in (("svc-api", "api"), ("svc-web", "web")):
        for env_id, env in ((STAGING, "staging"), (PRODUCTION, "production")):
            dep_id = f"dep-{svc}-{env}"
            t.deployments[dep_id] = Deployment(dep_id, svc_id, env_id, "SUCCESS", at)
    fake = {
        (STAGING, "svc-api", "DATABASE_URL"): "postgres://app:fake-staging-pw@pg.staging:5432/app",
        (STAGING, "svc-api", "LOG_LEVEL"): "debug",
        (STAGING, "svc-web", "API_URL"): "https://api.staging.acme.example",
        (PRODUCTION, "svc-api", "DATABASE_URL"): "postgres://app:fake-prod-pw@pg.prod:5432/app",
        (PRODUCTION, "svc-api", "LOG_LEVEL"): "info",
        (PRODUCTION, "svc-web", "API_URL"): "https://api.acme.example",
    }
    for (env_id, svc_id, name), value in fake.items():
        t.variables[(env_id, svc_id, name)] = Variable(name, value, env_id, svc_id)
    t.volumes[SHARED_VOLUME] = Volume(
        SHARED_VOLUME, "postgres-data", PROJECT_ID, (STAGING, PRODUCTION)
    )
    t.volumes["vol-cache"] = Volume("vol-cache", "cache", PROJECT_ID, (STAGING,))
    t.backups["bkp-pg-1"] = VolumeBackup("bkp-pg-1", SHARED_VOLUME, PRODUCTION, at)
    t.backups["bkp-pg-2"] = VolumeBackup("bkp-pg-2", SHARED_VOLUME, STAGING, at)
    return t
