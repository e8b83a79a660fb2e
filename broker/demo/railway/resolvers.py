"""One graphql-core ``field_resolver`` over the real schema: root fields, nested fields that
need a lookup, and plain record attributes.

``build_client_schema`` gives a schema without resolvers, so every field the replica serves
goes through ``resolve_field``: a root field the replica does not implement, or a field no
record carries, answers a GraphQL error "... is not implemented by the replica", never a
made-up value. The context value is a ``Call``: the token's view and its writes, or None
when the token is missing or wrong (then every root field answers "Not Authorized").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from broker.demo.railway.config import environment_config, rendered_variables
from broker.demo.railway.connections import connection
from broker.demo.railway.errors import (
    BadInput,
    NotAuthorized,
    NotImplementedByReplica,
    ReplicaError,
)
from broker.demo.railway.view import View
from broker.demo.railway.writes import Writes

Args = Mapping[str, Any]
Read = Callable[[View, Args], Any]
Nested = Callable[[View, Any, Args], Any]
ROOT_TYPES = frozenset({"Query", "Mutation", "Subscription"})


@dataclass(frozen=True)
class Call:
    view: View
    writes: Writes


def _refuse(args: Args, *names: str) -> None:
    """Optional arguments the replica does not honour are refused, not silently ignored."""
    for name in names:
        if args.get(name) is not None:
            raise BadInput(f"the argument {name} is not implemented by the replica")


def _environments(view: View, project_id: str, args: Args) -> dict[str, Any]:
    _refuse(args, "sort")
    ephemeral = args.get("isEphemeral")
    found = view.environments(project_id)
    return connection([e for e in found if ephemeral in (None, e.is_ephemeral)], args)


def _projects(view: View, args: Args) -> dict[str, Any]:
    _refuse(args, "orderBy", "userId")
    return connection(view.projects(args.get("workspaceId")), args)


def _variables(view: View, args: Args) -> dict[str, str]:
    env = view.environment(args["environmentId"], args["projectId"])
    return rendered_variables(view, env.id, args.get("serviceId"))


def _project_token(view: View) -> Any:
    token_id = view.access.grant.token_id
    if view.access.grant.kind != "project" or token_id is None:
        raise NotAuthorized()
    return view.tables.project_tokens[token_id]


def _project_tokens(view: View, args: Args) -> dict[str, Any]:
    view.access.require_account_or_workspace()
    project = view.project(args["projectId"])
    found = [t for t in view.tables.project_tokens.values() if t.project_id == project.id]
    return connection(found, args)


QUERIES: dict[str, Read] = {
    "me": lambda v, a: v.me(),
    "workspace": lambda v, a: v.workspace(a["workspaceId"]),
    "projects": _projects,
    "project": lambda v, a: v.project(a["id"]),
    "environments": lambda v, a: _environments(v, a["projectId"], a),
    "environment": lambda v, a: v.environment(a["id"], a.get("projectId")),
    "service": lambda v, a: v.service(a["id"]),
    "serviceInstance": lambda v, a: v.service_instance(a["environmentId"], a["serviceId"]),
    "variables": _variables,
    "deployments": lambda v, a: connection(v.deployments(a["input"]), a),
    "deployment": lambda v, a: v.deployment(a["id"]),
    "volumeInstance": lambda v, a: v.volume_instance(a["id"]),
    "volumeInstanceBackupList": lambda v, a: v.backups(a["volumeInstanceId"]),
    "volumeInstanceBackupScheduleList": lambda v, a: v.schedules(a["volumeInstanceId"]),
    "projectToken": lambda v, a: _project_token(v),
    "projectTokens": _project_tokens,
}

# Mutation field -> the ``Writes`` method; arguments pass by their schema names.
MUTATIONS: dict[str, str] = {
    "variableUpsert": "variable_upsert",
    "variableDelete": "variable_delete",
    "variableCollectionUpsert": "variable_collection_upsert",
    "serviceDelete": "service_delete",
    "deploymentRedeploy": "deployment_redeploy",
    "deploymentRollback": "deployment_rollback",
    "volumeDelete": "volume_delete",
    "volumeInstanceUpdate": "volume_instance_update",
    "volumeInstanceBackupCreate": "volume_instance_backup_create",
    "volumeInstanceBackupDelete": "volume_instance_backup_delete",
    "volumeInstanceBackupRestore": "volume_instance_backup_restore",
    "volumeInstanceBackupLock": "volume_instance_backup_lock",
    "volumeInstanceBackupScheduleUpdate": "volume_instance_backup_schedule_update",
    "projectTokenCreate": "project_token_create",
    "environmentCreate": "environment_create",
}

NESTED: dict[tuple[str, str], Nested] = {
    ("User", "workspaces"): lambda v, u, a: v.workspaces(u),
    ("Workspace", "projects"): lambda v, w, a: connection(v.projects(w.id), a),
    ("Workspace", "projectCount"): lambda v, w, a: len(v.projects(w.id)),
    ("Project", "environments"): lambda v, p, a: _environments(v, p.id, a),
    ("Project", "services"): lambda v, p, a: connection(v.services(p.id), a),
    ("Project", "volumes"): lambda v, p, a: connection(v.volumes(p.id), a),
    ("Project", "workspace"): lambda v, p, a: v.workspace(p.workspace_id),
    ("Environment", "config"): lambda v, e, a: environment_config(
        v, e, bool(a.get("decryptVariables"))
    ),
    ("Environment", "variables"): lambda v, e, a: connection(v.environment_variables(e.id), a),
    ("Environment", "volumeInstances"): lambda v, e, a: connection(
        v.instances(environment_id=e.id), a
    ),
    ("Environment", "deployments"): lambda v, e, a: connection(
        v.deployments({"environmentId": e.id}), a
    ),
    ("Environment", "serviceInstances"): lambda v, e, a: connection(
        v.service_instances(environment_id=e.id), a
    ),
    ("Service", "project"): lambda v, s, a: v.project(s.project_id),
    ("Service", "serviceInstances"): lambda v, s, a: connection(
        v.service_instances(service_id=s.id), a
    ),
    ("ServiceInstance", "service"): lambda v, i, a: v.service(i.service_id),
    ("ServiceInstance", "latestDeployment"): lambda v, i, a: next(
        iter(v.deployments({"environmentId": i.environment_id, "serviceId": i.service_id})), None
    ),
    ("ServiceInstance", "activeDeployments"): lambda v, i, a: v.deployments(
        {
            "environmentId": i.environment_id,
            "serviceId": i.service_id,
            "status": {"in": ["SUCCESS"]},
        }
    ),
    ("Deployment", "environment"): lambda v, d, a: v.environment(d.environment_id),
    ("Deployment", "service"): lambda v, d, a: v.service(d.service_id),
    ("Variable", "environment"): lambda v, x, a: v.environment(x.environment_id),
    ("Variable", "service"): lambda v, x, a: v.service(x.service_id or ""),
    ("Volume", "project"): lambda v, x, a: v.project(x.project_id),
    ("Volume", "volumeInstances"): lambda v, x, a: connection(v.instances(volume_id=x.id), a),
    ("VolumeInstance", "environment"): lambda v, i, a: v.environment(i.environment_id),
    ("VolumeInstance", "service"): lambda v, i, a: v.service(i.service_id or ""),
    ("VolumeInstance", "volume"): lambda v, i, a: v.volume(i.volume_id),
    ("ProjectToken", "project"): lambda v, t, a: v.project(t.project_id),
    ("ProjectToken", "environment"): lambda v, t, a: v.environment(t.environment_id),
}

IMPLEMENTED_ROOT_FIELDS = frozenset(
    [*(("Query", n) for n in QUERIES), *(("Mutation", n) for n in MUTATIONS)]
)


def resolve_field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """The ``field_resolver`` for ``execute``; replica errors become GraphQL errors."""
    try:
        return _resolve(source, info, args)
    except ReplicaError as exc:
        raise GraphQLError(exc.message, extensions={"code": exc.code}) from None


def _resolve(source: Any, info: GraphQLResolveInfo, args: Args) -> Any:
    type_name, field_name = info.parent_type.name, info.field_name
    if type_name in ROOT_TYPES:
        call: Call | None = info.context
        if call is None:
            raise NotAuthorized()
        if type_name == "Query" and field_name in QUERIES:
            return QUERIES[field_name](call.view, args)
        if type_name == "Mutation" and field_name in MUTATIONS:
            return getattr(call.writes, MUTATIONS[field_name])(**args)
        raise NotImplementedByReplica(type_name, field_name)
    nested = NESTED.get((type_name, field_name))
    if nested is not None:
        return nested(info.context.view, source, args)
    if isinstance(source, Mapping):
        if field_name in source:
            return source[field_name]
    else:
        attribute = _snake(field_name)
        if hasattr(source, attribute):
            return getattr(source, attribute)
    raise NotImplementedByReplica(type_name, field_name)


def _snake(name: str) -> str:
    """``createdAt`` -> ``created_at``, ``sizeMB`` -> ``size_mb``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
