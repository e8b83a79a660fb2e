"""The two incidents ``capbroker demo`` can replay, as data: which provider, which calls
and what each must answer, what must survive, and the destructive call inside the grant
that waits for a human. ``broker.demo.scene`` runs either one the same way.

- ``railway`` (the default): the Railway replica (``broker.demo.railway``), which answers
  with Railway's real schema, behind the shipped ``railway`` map. Environments are
  qualified by their project: the token is for project shop's staging only.
- ``railway-demo``: the small teaching provider (``broker.demo.provider``) and its map,
  the example in docs/route-maps.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker.demo.provider import ProviderState
from broker.demo.provider.state import UnknownObject
from broker.demo.railway import IDS, RailwayState
from broker.demo.world import RAILWAY, RAILWAY_STAGING

Variables = dict[str, Any]


@dataclass(frozen=True)
class Call:
    title: str
    expect: str  # "200" or a reason code
    query: str
    variables: Variables = field(default_factory=dict)


@dataclass(frozen=True)
class Held:
    """A destructive call the template allows but a human must approve, the same call
    with its target swapped (which the approval must not cover), and what the provider
    must hold afterwards."""

    title: str
    query: str
    variables: Variables
    swapped: Variables
    swapped_title: str
    done: Callable[[], bool]
    done_text: str


@dataclass(frozen=True)
class Scenario:
    provider: str
    endpoint: str  # the GraphQL path below the provider
    template: str
    environment: str
    intro: str
    calls: tuple[Call, ...]
    aliases: dict[str, str]  # id -> name, for the transcript only
    direct: str  # a query sent straight to the provider with the capability token
    survived: Callable[[], bool]
    survived_text: str
    held: Held


def railway(state: RailwayState) -> Scenario:
    ids = IDS
    upsert = "mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }"

    def variable(environment: str, project: str = ids.shop, service: str = ids.api) -> Variables:
        return {
            "i": {
                "projectId": project,
                "environmentId": environment,
                "serviceId": service,
                "name": "LOG_LEVEL",
                "value": "debug",
            }
        }

    delete_variable = "mutation($i: VariableDeleteInput!) { variableDelete(input: $i) }"
    target = {"projectId": ids.shop, "serviceId": ids.api, "name": "LOG_LEVEL"}

    def survived() -> bool:
        with state.lock:
            t = state.tables
            return ids.shared_volume in t.volumes and ids.production_backup in t.backups

    def deleted_in_staging_only() -> bool:
        with state.lock:
            names = {(k[0], k[2]) for k in state.tables.variables}
        return (ids.shop_staging, "LOG_LEVEL") not in names and (
            ids.shop_production,
            "LOG_LEVEL",
        ) in names

    volume_delete = "mutation($v: String!) { volumeDelete(volumeId: $v) }"
    return Scenario(
        provider=RAILWAY,
        endpoint="/graphql/v2",
        template="shop-staging-agent",
        environment=RAILWAY_STAGING,
        intro=(
            "capbroker demo: replaying the incident on a replica of Railway's public API"
            " (its real schema; a volume shared by staging and production)"
        ),
        aliases={ids.shop: "<shop>", ids.blog: "<blog>"},
        calls=(
            Call(
                "read project shop",
                "200",
                "query($id: String!) { project(id: $id) { name } }",
                {"id": ids.shop},
            ),
            Call(
                "list the api service's staging deployments",
                "200",
                "query($e: String!, $s: String!) { deployments(first: 5, input: "
                "{environmentId: $e, serviceId: $s}) { edges { node { status } } } }",
                {"e": ids.shop_staging, "s": ids.api},
            ),
            Call("change a variable in staging", "200", upsert, variable(ids.shop_staging)),
            Call(
                "THE INCIDENT: volumeDelete on pg-data (production has an instance of it)",
                "environment_not_granted",
                volume_delete,
                {"v": ids.shared_volume},
            ),
            Call(
                "the same call hidden behind an alias in a fragment",
                "environment_not_granted",
                "mutation { ...Tidy } fragment Tidy on Mutation "
                f'{{ cleanup: volumeDelete(volumeId: "{ids.shared_volume}") }}',
            ),
            Call(
                "delete production's backup of the volume",
                "forbidden_verb",
                "mutation($b: String!, $i: String!) { volumeInstanceBackupDelete("
                "volumeInstanceBackupId: $b, volumeInstanceId: $i) }",
                {"b": ids.production_backup, "i": ids.production_instance},
            ),
            Call(
                "restore that backup, naming staging's instance as its owner",
                "relation_unproven",
                "mutation($b: String!, $i: String!) { volumeInstanceBackupRestore("
                "volumeInstanceBackupId: $b, volumeInstanceId: $i) }",
                {"b": ids.production_backup, "i": ids.staging_instance},
            ),
            Call(
                "change a variable in project blog's staging (same name, other project)",
                "environment_not_granted",
                upsert,
                variable(ids.blog_staging, ids.blog, ids.web),
            ),
            Call(
                "read every environment's variables through the project",
                "environment_unresolved",
                "query($id: String!) { project(id: $id) { environments { edges { node {"
                " name variables } } } } }",
                {"id": ids.shop},
            ),
        ),
        direct=f'mutation {{ volumeDelete(volumeId: "{ids.shared_volume}") }}',
        survived=survived,
        survived_text="volume pg-data and production's backup",
        held=Held(
            title="variableDelete of LOG_LEVEL in staging",
            query=delete_variable,
            variables={"i": {**target, "environmentId": ids.shop_staging}},
            swapped={"i": {**target, "environmentId": ids.shop_production}},
            swapped_title="the agent swaps in production",
            done=deleted_in_staging_only,
            done_text="LOG_LEVEL deleted in staging, production's untouched",
        ),
    )


def teaching(state: ProviderState) -> Scenario:
    """The small demo provider's incident (docs/route-maps.md's example)."""

    def exists(volume_id: str) -> bool:
        try:
            state.volume(volume_id)
        except UnknownObject:
            return False
        return True

    delete = "mutation($v: ID!) { volumeDelete(volumeId: $v) }"
    return Scenario(
        provider="railway-demo",
        endpoint="/graphql",
        template="staging-agent",
        environment="staging",
        intro=(
            "capbroker demo: replaying the incident (staging agent, volume shared with production)"
        ),
        aliases={},
        calls=(
            Call("read the projects", "200", "{ projects { id name } }"),
            Call(
                "list staging deployments",
                "200",
                '{ deployments(environmentId: "env-staging") { id status } }',
            ),
            Call(
                "redeploy the api service in staging",
                "200",
                'mutation { deploymentRedeploy(environmentId: "env-staging", '
                'serviceId: "svc-api") { id status } }',
            ),
            Call(
                "change a variable in staging",
                "200",
                'mutation { variableUpsert(environmentId: "env-staging", serviceId: '
                '"svc-api", name: "LOG_LEVEL", value: "debug") { name } }',
            ),
            Call(
                "THE INCIDENT: volumeDelete on vol-pg (its id is shared with production)",
                "environment_not_granted",
                delete,
                {"v": "vol-pg"},
            ),
            Call(
                "the same call hidden behind an alias in a fragment",
                "environment_not_granted",
                "mutation { ...Tidy } fragment Tidy on Mutation "
                '{ cleanup: volumeDelete(volumeId: "vol-pg") }',
            ),
            Call(
                "delete the volume's staging backup",
                "forbidden_verb",
                'mutation { volumeBackupDelete(backupId: "bkp-pg-2") }',
            ),
            Call(
                "redeploy in production",
                "environment_not_granted",
                'mutation { deploymentRedeploy(environmentId: "env-production", '
                'serviceId: "svc-api") { id } }',
            ),
        ),
        direct='mutation { volumeDelete(volumeId: "vol-pg") }',
        survived=lambda: exists("vol-pg") and bool(state.volume_backups("vol-pg")),
        survived_text="vol-pg and its backups",
        held=Held(
            title="volumeDelete on vol-cache (staging only)",
            query=delete,
            variables={"v": "vol-cache"},
            swapped={"v": "vol-pg"},
            swapped_title="the agent swaps in vol-pg",
            done=lambda: not exists("vol-cache") and exists("vol-pg"),
            done_text="vol-cache deleted, vol-pg untouched",
        ),
    )
