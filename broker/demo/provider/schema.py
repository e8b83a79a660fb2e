"""The Railway-style schema (SDL) and its resolvers over a ``ProviderState``.

The state travels as the GraphQL context value. Plain fields are read by ``field_resolver``
(``createdAt`` -> ``created_at``); fields that need a lookup have their own resolver.
Unknown ids become GraphQL errors with ``extensions.code == "NOT_FOUND"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from graphql import GraphQLError, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema
from graphql import build_schema as _build_sdl

from broker.demo.provider.records import Project, Volume
from broker.demo.provider.state import ProviderState, UnknownObject

SDL = """\
type Query { projects: [Project!]!  project(id: ID!): Project  environments(projectId: ID!): [Environment!]!  environment(id: ID!): Environment  services(projectId: ID!): [Service!]!  deployment(id: ID!): Deployment  deployments(environmentId: ID!, serviceId: ID): [Deployment!]!  variables(environmentId: ID!, serviceId: ID!): [Variable!]!  volume(id: ID!): Volume  volumes(projectId: ID!): [Volume!]!  volumeBackups(volumeId: ID!): [VolumeBackup!]! }
type Mutation { deploymentRedeploy(environmentId: ID!, serviceId: ID!): Deployment!  deploymentRollback(id: ID!): Deployment!  variableUpsert(environmentId: ID!, serviceId: ID!, name: String!, value: String!): Variable!  variableDelete(environmentId: ID!, serviceId: ID!, name: String!): Boolean!  volumeDelete(volumeId: ID!): Boolean!  volumeBackupCreate(volumeId: ID!): VolumeBackup!  volumeBackupDelete(backupId: ID!): Boolean!  volumeBackupRestore(backupId: ID!): Boolean! }
type Project { id: ID! name: String! environments: [Environment!]! services: [Service!]! volumes: [Volume!]! }
type Environment { id: ID! name: String! projectId: ID! }
type Service { id: ID! name: String! projectId: ID! }
type Deployment { id: ID! serviceId: ID! environmentId: ID! status: String! createdAt: String! }
type Variable { name: String! value: String! environmentId: ID! serviceId: ID! }
type Volume { id: ID! name: String! projectId: ID! environments: [Environment!]! backups: [VolumeBackup!]! }
type VolumeBackup { id: ID! volumeId: ID! environmentId: ID! createdAt: String! }
"""  # noqa: E501

Resolver = Callable[..., Any]
T = TypeVar("T")

# Root fields: (type, field) -> the ProviderState method, whose parameters follow the SDL.
_ROOT: dict[tuple[str, str], str] = {
    ("Query", "projects"): "projects",
    ("Query", "project"): "project",
    ("Query", "environments"): "environments",
    ("Query", "environment"): "environment",
    ("Query", "services"): "services",
    ("Query", "deployment"): "deployment",
    ("Query", "deployments"): "deployments",
    ("Query", "variables"): "variables",
    ("Query", "volume"): "volume",
    ("Query", "volumes"): "volumes",
    ("Query", "volumeBackups"): "volume_backups",
    ("Mutation", "deploymentRedeploy"): "deployment_redeploy",
    ("Mutation", "deploymentRollback"): "deployment_rollback",
    ("Mutation", "variableUpsert"): "variable_upsert",
    ("Mutation", "variableDelete"): "variable_delete",
    ("Mutation", "volumeDelete"): "volume_delete",
    ("Mutation", "volumeBackupCreate"): "volume_backup_create",
    ("Mutation", "volumeBackupDelete"): "volume_backup_delete",
    ("Mutation", "volumeBackupRestore"): "volume_backup_restore",
}

# Nested fields that need a lookup: (type, field) -> (state, parent) -> value.
_NESTED: dict[tuple[str, str], Callable[[ProviderState, Any], Any]] = {
    ("Project", "environments"): lambda s, p: s.environments(_as(p, Project).id),
    ("Project", "services"): lambda s, p: s.services(_as(p, Project).id),
    ("Project", "volumes"): lambda s, p: s.volumes(_as(p, Project).id),
    ("Volume", "environments"): lambda s, v: s.volume_environments(_as(v, Volume).id),
    ("Volume", "backups"): lambda s, v: s.volume_backups(_as(v, Volume).id),
}


def build_provider_schema() -> GraphQLSchema:
    """A fresh executable schema (the resolvers read the state from the context value)."""
    schema = _build_sdl(SDL)
    for (type_name, field_name), method in _ROOT.items():
        _field(schema, type_name, field_name).resolve = _root_resolver(method)
    for (type_name, field_name), lookup in _NESTED.items():
        _field(schema, type_name, field_name).resolve = _nested_resolver(lookup)
    return schema


def field_resolver(source: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
    """Plain fields: the record attribute of the same name in snake_case."""
    return getattr(source, _snake(info.field_name))


def _field(schema: GraphQLSchema, type_name: str, field_name: str) -> Any:
    graphql_type = schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType)
    return graphql_type.fields[field_name]


def _not_found(fn: Resolver) -> Resolver:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UnknownObject as exc:
            raise GraphQLError(str(exc), extensions={"code": "NOT_FOUND"}) from None

    return wrapper


def _root_resolver(method: str) -> Resolver:
    def resolve(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        # Positional, in SDL order (an omitted optional argument is None).
        state: ProviderState = info.context
        names = info.parent_type.fields[info.field_name].args
        return getattr(state, method)(*(args.get(name) for name in names))

    return _not_found(resolve)


def _nested_resolver(lookup: Callable[[ProviderState, Any], Any]) -> Resolver:
    def resolve(parent: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
        return lookup(info.context, parent)

    return _not_found(resolve)


def _as(value: Any, kind: type[T]) -> T:
    assert isinstance(value, kind)
    return value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
