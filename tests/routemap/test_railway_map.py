"""The shipped `railway` map: real query shapes classified, real answers read, check clean."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
import yaml

from broker.domain.actions import action_matches
from broker.errors import BrokerError
from broker.routemap import (
    Classification,
    EnvById,
    EnvLookup,
    LookupCall,
    RouteMap,
    canonical_request,
    classify,
    refusal_code,
    shipped_map,
)
from broker.routemap.check import check_route_map
from tests.support.schemas import railway_snapshot
from tests.support.stack import ROOT

ENDPOINT = "/graphql/v2"


@cache
def railway() -> RouteMap:
    return shipped_map("railway")


def post(query: str, variables: dict[str, Any] | None = None) -> Classification:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    headers = {"Content-Type": "application/json"}
    request = canonical_request("POST", ENDPOINT, "", headers, options=railway().paths)
    return classify(railway(), request, body)


def refusal(query: str, variables: dict[str, Any] | None = None) -> tuple[str, str]:
    with pytest.raises(BrokerError) as caught:
        post(query, variables)
    return refusal_code(caught.value), str(caught.value)


def by_id(environment_id: str) -> EnvById:
    return EnvById(environment_id, LookupCall("environmentName", (("id", environment_id),)))


def lookup(name: str, **params: str) -> EnvLookup:
    return EnvLookup(LookupCall(name, tuple(sorted(params.items()))))


# --- the incident and the volume family -------------------------------------------------


def test_the_incidents_volume_delete_asks_which_environments_use_the_volume() -> None:
    (call,) = post('mutation { volumeDelete(volumeId: "vol-pg") }').calls
    assert (call.action, call.effect) == ("volume:delete", "destructive")
    assert call.resources == ("volume:vol-pg",)
    assert call.environments == (lookup("volumeEnvironments", volumeId="vol-pg"),)


def env(project: str, name: str) -> dict[str, str]:
    return {"name": name, "projectId": project}


# A `projects` page as the real API shapes it: project A's volume is used by staging and
# production; project B has environments of the same names and a volume of its own.
PROJECTS_PAGE = {
    "data": {
        "projects": {
            "pageInfo": {"hasNextPage": False, "endCursor": "c1"},
            "edges": [
                {
                    "node": {
                        "volumes": {
                            "edges": [
                                {
                                    "node": {
                                        "id": "vol-pg",
                                        "volumeInstances": {
                                            "edges": [
                                                {"node": {"environment": env("A", "staging")}},
                                                {"node": {"environment": env("A", "production")}},
                                            ]
                                        },
                                    }
                                }
                            ]
                        }
                    }
                },
                {
                    "node": {
                        "volumes": {
                            "edges": [
                                {
                                    "node": {
                                        "id": "vol-b",
                                        "volumeInstances": {
                                            "edges": [
                                                {"node": {"environment": env("B", "staging")}}
                                            ]
                                        },
                                    }
                                }
                            ]
                        }
                    }
                },
            ],
        }
    }
}


def test_the_volume_walk_finds_every_environment_of_the_shared_volume_qualified() -> None:
    walk = railway().lookups["volumeEnvironments"]
    found = walk.extract(200, PROJECTS_PAGE, {"volumeId": "vol-pg"})
    assert sorted(found) == ["A/production", "A/staging"]
    assert walk.extract(200, PROJECTS_PAGE, {"volumeId": "vol-b"}) == ("B/staging",)
    with pytest.raises(BrokerError) as caught:
        walk.extract(200, PROJECTS_PAGE, {"volumeId": "vol-gone"})
    assert refusal_code(caught.value) == "environment_unresolved"


def test_environment_names_are_qualified_by_their_project() -> None:
    names = railway().lookups["environmentName"]
    answer = {"data": {"environment": env("B", "staging")}}
    assert names.extract(200, answer, {"id": "env-b-staging"}) == ("B/staging",)


def test_instance_calls_reach_every_environment_of_the_instances_volume() -> None:
    (call,) = post('mutation { volumeInstanceBackupCreate(volumeInstanceId: "vi-1") }').calls
    assert call.environments == (lookup("instanceEnvironments", instanceId="vi-1"),)
    answer = {
        "data": {
            "volumeInstance": {
                "volume": {
                    "volumeInstances": {
                        "edges": [
                            {"node": {"environment": env("A", "staging")}},
                            {"node": {"environment": env("A", "production")}},
                        ]
                    }
                }
            }
        }
    }
    found = railway().lookups["instanceEnvironments"].extract(200, answer, {"instanceId": "vi-1"})
    assert sorted(found) == ["A/production", "A/staging"]


def test_a_backup_is_checked_to_belong_to_the_instance_named() -> None:
    q = (
        "mutation($b: String!, $i: String!) "
        "{ volumeInstanceBackupDelete(volumeInstanceBackupId: $b, volumeInstanceId: $i) "
        "{ workflowId } }"
    )
    (call,) = post(q, {"b": "bk-1", "i": "vi-1"}).calls
    assert (call.action, call.effect) == ("backup:delete", "destructive")
    assert call.resources == ("backup:bk-1", "volume-instance:vi-1")
    assert call.environments == (lookup("instanceEnvironments", instanceId="vi-1"),)
    ids = railway().lookups["instanceBackupIds"]
    answer = {"data": {"volumeInstanceBackupList": [{"id": "bk-1"}, {"id": "bk-2"}]}}
    assert ids.extract(200, answer, {"instanceId": "vi-1"}) == ("bk-1", "bk-2")


def test_restore_names_the_services_it_wipes_as_resources() -> None:
    q = (
        'mutation { volumeInstanceBackupRestore(volumeInstanceBackupId: "bk-1", '
        'volumeInstanceId: "vi-1", wipeServiceIds: ["svc-a", "svc-b"]) { workflowId } }'
    )
    (call,) = post(q).calls
    assert call.action == "backup:restore"
    assert call.resources == (
        "backup:bk-1",
        "volume-instance:vi-1",
        "service:svc-a",
        "service:svc-b",
    )


# --- verbs chosen by argument values ----------------------------------------------------

COLLECTION = (
    'mutation($r: Boolean) { variableCollectionUpsert(input: {projectId: "p", '
    'environmentId: "env-1", serviceId: "svc", variables: {A: "1"}, replace: $r}) }'
)


@pytest.mark.parametrize(
    ("replace", "action", "effect"),
    [
        (True, "variable:replace", "destructive"),
        (False, "variable:write", "write"),
        (None, "variable:write", "write"),
    ],
)
def test_replace_true_deletes_every_other_variable(
    replace: bool | None, action: str, effect: str
) -> None:
    (call,) = post(COLLECTION, {"r": replace}).calls
    assert (call.action, call.effect) == (action, effect)
    assert call.environments == (by_id("env-1"),)


@pytest.mark.parametrize(
    ("kinds", "action"), [("[]", "backup:disable"), ("[DAILY, WEEKLY]", "backup:schedule")]
)
def test_an_empty_schedule_stops_backups(kinds: str, action: str) -> None:
    q = (
        "mutation { volumeInstanceBackupScheduleUpdate"
        f'(kinds: {kinds}, volumeInstanceId: "vi-1") }}'
    )
    (call,) = post(q).calls
    assert call.action == action


def test_service_delete_is_one_environment_when_named_else_every_one() -> None:
    (one,) = post('mutation { serviceDelete(id: "svc", environmentId: "env-1") }').calls
    assert one.environments == (by_id("env-1"),)
    (every,) = post('mutation { serviceDelete(id: "svc") }').calls
    assert every.environments == (lookup("serviceEnvironments", serviceId="svc"),)
    assert every.effect == "destructive"


def test_volume_instance_update_falls_back_to_every_environment_of_the_volume() -> None:
    q = 'mutation { volumeInstanceUpdate(volumeId: "vol-pg", input: {mountPath: "/d"}) }'
    (call,) = post(q).calls
    assert (call.action, call.environments) == (
        "volume:write",
        (lookup("volumeEnvironments", volumeId="vol-pg"),),
    )
    q = (
        'mutation { volumeInstanceUpdate(volumeId: "vol-pg", environmentId: "e", '
        "input: {state: DELETED}) }"
    )
    (call,) = post(q).calls
    assert (call.action, call.environments) == ("volume:delete", (by_id("e"),))


# --- privilege ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "action"),
    [
        (
            'mutation { projectTokenCreate(input: {projectId: "p", environmentId: "e", '
            'name: "t"}) }',
            "token:create",
        ),
        (
            'mutation { generateShellToken(input: {environmentId: "e", instanceId: "i", '
            'scope: "s"}) }',
            "shell:token",
        ),
        (
            'mutation { projectMemberAdd(input: {projectId: "p", userId: "u", '
            "role: ADMIN}) { id } }",
            "member:add",
        ),
        ('mutation { projectScheduleDeleteForce(id: "p") }', "project:delete-force"),
        ('mutation { deploymentApprove(id: "d") }', "deployment:approve"),
        (
            'mutation { projectTransfer(projectId: "p", input: {workspaceId: "w"}) }',
            "project:transfer",
        ),
    ],
)
def test_privilege_verbs_are_destructive_and_the_example_floor_forbids_them(
    query: str, action: str
) -> None:
    (call,) = post(query).calls
    assert (call.action, call.effect) == (action, "destructive")
    floor = yaml.safe_load((ROOT / "examples" / "templates" / "policy-floor.yaml").read_text())
    assert any(action_matches(p, action) for p in floor["spec"]["forbidden_actions"])


@pytest.mark.parametrize(
    "query",
    [
        'mutation { apiTokenCreate(input: {name: "x"}) }',
        "mutation { twoFactorInfoDelete }",
        'mutation { loginSessionConsume(code: "c") }',
        'mutation { webhookTest(url: "https://evil.example", payload: "x") }',
    ],
)
def test_refused_fields_answer_route_refused_with_their_reason(query: str) -> None:
    code, detail = refusal(query)
    assert code == "route_refused"
    assert detail  # the reason written beside the field


def test_a_refused_field_hidden_among_allowed_ones_refuses_the_request() -> None:
    code, _ = refusal(
        "query { projects { edges { node { id } } } } "
        'mutation { apiTokenCreate(input: {name: "x"}) }'
    )
    assert code == "route_refused"


# --- nested secrets ---------------------------------------------------------------------


def test_decrypted_config_of_the_environment_named_is_a_variable_read_there() -> None:
    q = 'query { environment(id: "env-1") { name config(decryptVariables: true) } }'
    calls = post(q).calls
    assert {(c.action, c.environments) for c in calls} >= {
        ("environment:read", (by_id("env-1"),)),
        ("variable:read", (by_id("env-1"),)),
    }


@pytest.mark.parametrize(
    "query",
    [
        # every environment of a project, with their variables
        'query { project(id: "p") { environments { edges { node '
        "{ variables { edges { node { name } } } } } } } }",
        # a harmless-looking deployment read that walks into the environment's secrets
        'query { deployment(id: "d") { environment { config(decryptVariables: true) } } }',
        # out of the environment named, into another one through the shared volume
        'query { environment(id: "env-1") '
        "{ volumeInstances { edges { node { volume { id } } } } } }",
        # through a fragment and an alias
        'query { e: environment(id: "env-1") { ...F } } '
        "fragment F on Environment { sourceEnvironment { name } }",
    ],
)
def test_secrets_below_harmless_reads_are_refused_when_their_environment_is_unknown(
    query: str,
) -> None:
    code, _ = refusal(query)
    assert code == "environment_unresolved"


# --- the check against the real schema --------------------------------------------------


def test_the_map_names_every_root_field_of_the_real_schema_with_no_error() -> None:
    report = check_route_map(railway(), railway_snapshot())
    assert [f.subject for f in report.errors] == []
    assert [f.subject for f in report.gaps] == []
