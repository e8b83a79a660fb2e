"""The seed: the incident's shapes on Railway's real API, as plain data.

One workspace. Project "shop" has environments staging and production, a service "api" with
variables and deployments in both, and ONE volume ("pg-data") whose instances are in BOTH
environments (the incident's shared volume: ``volumeDelete`` takes production's data too);
production's instance has a backup and a daily schedule. Project "blog" has environments
with the same names (staging, production): an environment is only named uniquely together
with its project.

Ids are UUIDs like Railway's, derived from names (``railway_id``), so they are the same in
every run: ``IDS`` names them for tests and the demo. Tokens are stored by their SHA-256
hash only; the master key is a parameter and never part of the returned data.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.demo.railway.records import (
    BackupSchedule,
    Deployment,
    Environment,
    Project,
    ProjectToken,
    Service,
    TokenGrant,
    User,
    Variable,
    Volume,
    VolumeInstance,
    VolumeInstanceBackup,
    Workflow,
    Workspace,
    iso_time,
)

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://capbroker.dev/railway-replica")

VariableScope = tuple[str, str | None]  # (environment id, service id or None: shared)
VariableKey = tuple[str, str | None, str]  # (environment id, service id or None, name)


def railway_id(*names: str) -> str:
    """A deterministic UUID for a seeded (or serially created) object."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(names)))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SeedIds:
    """The seeded objects' ids, by role (``IDS.shop_production`` and so on)."""

    user: str = railway_id("user", "dev")
    workspace: str = railway_id("workspace", "acme")
    shop: str = railway_id("project", "shop")
    shop_staging: str = railway_id("environment", "shop", "staging")
    shop_production: str = railway_id("environment", "shop", "production")
    api: str = railway_id("service", "shop", "api")
    api_staging_deployment: str = railway_id("deployment", "shop", "api", "staging", "1")
    api_production_previous: str = railway_id("deployment", "shop", "api", "production", "1")
    api_production_deployment: str = railway_id("deployment", "shop", "api", "production", "2")
    shared_volume: str = railway_id("volume", "shop", "pg-data")
    staging_instance: str = railway_id("volume-instance", "shop", "pg-data", "staging")
    production_instance: str = railway_id("volume-instance", "shop", "pg-data", "production")
    production_backup: str = railway_id("backup", "shop", "pg-data", "production", "1")
    production_schedule: str = railway_id("schedule", "shop", "pg-data", "production", "daily")
    blog: str = railway_id("project", "blog")
    blog_staging: str = railway_id("environment", "blog", "staging")
    blog_production: str = railway_id("environment", "blog", "production")
    web: str = railway_id("service", "blog", "web")

    def to_json(self) -> dict[str, str]:
        return dict(vars(self))


IDS = SeedIds()


@dataclass
class Tables:
    """Everything the replica knows. Dicts keep insertion order, which connections report."""

    users: dict[str, User] = field(default_factory=dict)
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    variables: dict[VariableKey, Variable] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    volume_instances: dict[str, VolumeInstance] = field(default_factory=dict)
    backups: dict[str, VolumeInstanceBackup] = field(default_factory=dict)
    schedules: dict[str, BackupSchedule] = field(default_factory=dict)
    grants: dict[str, TokenGrant] = field(default_factory=dict)  # token hash -> grant
    project_tokens: dict[str, ProjectToken] = field(default_factory=dict)
    workflows: list[Workflow] = field(default_factory=list)
    next_serial: int = 1


def railway_seed(
    master_key: str,
    *,
    now: float,
    workspace_token: str | None = None,
    project_tokens: Mapping[str, tuple[str, str]] | None = None,
) -> Tables:
    """A fresh seed. ``master_key`` is the account token (Bearer); ``workspace_token`` a
    workspace token for the one workspace; ``project_tokens`` maps a token to the
    (project id, environment id) it is scoped to. Only the tokens' hashes are kept."""
    if not master_key:
        raise ValueError("the master key must be non-empty")
    at, ids, t = iso_time(now), IDS, Tables()
    t.users[ids.user] = User(ids.user, "Dev", "dev@acme.example", "dev", at, (ids.workspace,))
    t.workspaces[ids.workspace] = Workspace(ids.workspace, "acme", at, at)
    t.grants[token_hash(master_key)] = TokenGrant("account", user_id=ids.user)
    if workspace_token:
        t.grants[token_hash(workspace_token)] = TokenGrant("workspace", workspace_id=ids.workspace)
    _seed_shop(t, at, iso_time(now + 6 * 86_400))
    _seed_blog(t, at)
    for number, (token, (project_id, env_id)) in enumerate((project_tokens or {}).items()):
        token_id = railway_id("project-token", str(number))
        add_project_token(t, token_id, f"token-{number}", token, (project_id, env_id), at)
    return t


def add_project_token(
    t: Tables, token_id: str, name: str, token: str, scope: tuple[str, str], at: str
) -> ProjectToken:
    """Record a project token scoped to (project id, environment id) by its hash; the record
    shows a mask, never any part of the token."""
    project_id, environment_id = scope
    digest = token_hash(token)
    record = ProjectToken(token_id, name, project_id, environment_id, "********", digest, at)
    t.project_tokens[token_id] = record
    t.grants[digest] = TokenGrant(
        "project", project_id=project_id, environment_id=environment_id, token_id=token_id
    )
    return record


def _project(t: Tables, project_id: str, name: str, envs: Mapping[str, str], at: str) -> None:
    t.projects[project_id] = Project(project_id, name, None, IDS.workspace, at, at)
    for env_name, env_id in envs.items():
        t.environments[env_id] = Environment(env_id, env_name, project_id, at, at)


def _variables(t: Tables, values: Mapping[VariableScope, Mapping[str, str]], at: str) -> None:
    for (env_id, service_id), named in values.items():
        for name, value in named.items():
            var_id = railway_id("variable", env_id, service_id or "shared", name)
            variable = Variable(var_id, name, value, env_id, service_id, at, at)
            t.variables[(env_id, service_id, name)] = variable


# Fake values, shaped like the real thing: the point is which environment they belong to.
SHOP_VARIABLES: dict[VariableScope, dict[str, str]] = {
    (IDS.shop_staging, IDS.api): {
        "DATABASE_URL": "postgres://app:fake-staging-pw@pg.staging.internal:5432/shop",
        "LOG_LEVEL": "debug",
    },
    (IDS.shop_production, IDS.api): {
        "DATABASE_URL": "postgres://app:fake-prod-pw@pg.production.internal:5432/shop",
        "LOG_LEVEL": "info",
    },
    (IDS.shop_staging, None): {"REGION": "us-west2"},
    (IDS.shop_production, None): {"REGION": "us-west2"},
}
BLOG_VARIABLES: dict[VariableScope, dict[str, str]] = {
    (IDS.blog_staging, IDS.web): {"SITE_URL": "https://staging.blog.acme.example"},
    (IDS.blog_production, IDS.web): {"SITE_URL": "https://blog.acme.example"},
}


def _seed_shop(t: Tables, at: str, expires_at: str) -> None:
    ids = IDS
    envs = {"staging": ids.shop_staging, "production": ids.shop_production}
    _project(t, ids.shop, "shop", envs, at)
    t.services[ids.api] = Service(ids.api, "api", ids.shop, tuple(envs.values()), at, at)
    _variables(t, SHOP_VARIABLES, at)
    for dep_id, env_id, status in (
        (ids.api_staging_deployment, ids.shop_staging, "SUCCESS"),
        (ids.api_production_previous, ids.shop_production, "REMOVED"),
        (ids.api_production_deployment, ids.shop_production, "SUCCESS"),
    ):
        t.deployments[dep_id] = Deployment(dep_id, ids.shop, env_id, ids.api, status, at, at)
    t.volumes[ids.shared_volume] = Volume(ids.shared_volume, "pg-data", ids.shop, at)
    for inst_id, env_id in (
        (ids.staging_instance, ids.shop_staging),
        (ids.production_instance, ids.shop_production),
    ):
        t.volume_instances[inst_id] = VolumeInstance(
            inst_id, ids.shared_volume, env_id, ids.api, "/var/lib/postgresql/data", 5000, at
        )
    t.backups[ids.production_backup] = VolumeInstanceBackup(
        ids.production_backup,
        ids.production_instance,
        "nightly",
        f"snap-{ids.production_backup}",
        at,
        expires_at,
        schedule_id=ids.production_schedule,
        used_mb=120,
        volume_instance_size_mb=5000,
    )
    t.schedules[ids.production_schedule] = BackupSchedule(
        ids.production_schedule,
        ids.production_instance,
        "DAILY",
        "Daily",
        "0 3 * * *",
        at,
        retention_seconds=6 * 86_400,
    )


def _seed_blog(t: Tables, at: str) -> None:
    ids = IDS
    envs = {"staging": ids.blog_staging, "production": ids.blog_production}
    _project(t, ids.blog, "blog", envs, at)
    t.services[ids.web] = Service(ids.web, "web", ids.blog, tuple(envs.values()), at, at)
    _variables(t, BLOG_VARIABLES, at)
