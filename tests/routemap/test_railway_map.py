"""The shipped `railway` map: real query shapes classified, real answers read, check clean."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from broker.clock import FrozenClock
from broker.demo.railway import IDS, ReplicaServer, serve_replica
from broker.domain.actions import action_matches
from broker.errors import BrokerError
from broker.gateway.resolve import EnvironmentResolver
from broker.gateway.upstream import Upstream
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
from broker.routemap.lookups import LookupRequest
from broker.routemap.model import Call
from tests.cli.cli_support import runner_on
from tests.support.schemas import RAILWAY_SCHEMA, railway_snapshot
from tests.support.stack import ROOT

ENDPOINT = "/graphql/v2"
MASTER_KEY = secrets.token_urlsafe(24)
NOW = 1_900_000_000.0


@cache
def railway() -> RouteMap:
    return shipped_map("railway")


def post(query: str, variables: dict[str, Any] | None = None, **extra: str) -> Classification:
    body = json.dumps({"query": query, "variables": variables or {}, **extra}).encode()
    headers = {"Content-Type": "application/json"}
    request = canonical_request("POST", ENDPOINT, "", headers, options=railway().paths)
    return classify(railway(), request, body)


def refusal(query: str, variables: dict[str, Any] | None = None, **extra: str) -> tuple[str, str]:
    with pytest.raises(BrokerError) as caught:
        post(query, variables, **extra)
    return refusal_code(caught.value), caught.value.detail


def by_id(environment_id: str) -> EnvById:
    return EnvById(environment_id, LookupCall("environmentName", (("id", environment_id),)))


def lookup(name: str, **params: str) -> EnvLookup:
    return EnvLookup(LookupCall(name, tuple(sorted(params.items()))))


# --- the incident and the volume family -------------------------------------------------


def env(project: str, name: str) -> dict[str, str]:
    return {"name": name, "projectId": project}


def edges(nodes: list[Any]) -> dict[str, Any]:
    return {"edges": [{"node": n} for n in nodes]}


# Two projects with environments of the same names. Project A's volume `vol-pg` is used
# by its staging and production (one instance each); project B has a volume of its own.
ENVIRONMENTS = {
    "env-a-stg": env("prj-a", "staging"),
    "env-a-prd": env("prj-a", "production"),
    "env-b-stg": env("prj-b", "staging"),
}
VOLUMES = {"prj-a": {"vol-pg": ["env-a-stg", "env-a-prd"]}, "prj-b": {"vol-b": ["env-b-stg"]}}
INSTANCES = {"vi-stg": "vol-pg", "vi-prd": "vol-pg", "vi-b": "vol-b"}
BACKUPS = {"vi-stg": ["bk-1"], "vi-prd": ["bk-9"], "vi-b": []}
DEPLOYMENTS = {"dep-1": "env-a-stg"}
SERVICES = {"svc-a": "prj-a"}


def project_node(project: str) -> dict[str, Any]:
    """One `projects` edge's node, with every field the map's walks select."""
    own = [e for e in ENVIRONMENTS.values() if e["projectId"] == project]
    volumes = [
        {"id": v, "volumeInstances": edges([{"environment": ENVIRONMENTS[e]} for e in envs])}
        for v, envs in VOLUMES[project].items()
    ]
    return {"environments": edges(own), "volumes": edges(volumes)}


class Railway:
    """Answers the map's lookups in the shapes of Railway's real API; keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def fetch(self, request: LookupRequest) -> tuple[int, object]:
        assert request.path == ENDPOINT
        assert request.json is not None
        query, v = request.json["query"], request.json["variables"]
        root = query.split("{", 2)[1].split("(")[0].strip()
        self.sent.append(root)
        return 200, {"data": {root: self._answer(root, v)}}

    def _answer(self, root: str, v: dict[str, Any]) -> object:
        if root == "projects":  # one project a page, in order
            page = 0 if v["after"] is None else int(v["after"])
            names = sorted(VOLUMES)
            more = page + 1 < len(names)
            info = {"hasNextPage": more, "endCursor": str(page + 1) if more else None}
            return {"pageInfo": info, **edges([project_node(names[page])])}
        if root == "environment":
            return ENVIRONMENTS[v["id"]]
        if root == "volumeInstance":
            volume = INSTANCES[v["id"]]
            envs = next(es for vs in VOLUMES.values() for k, es in vs.items() if k == volume)
            return {
                "volume": {
                    "volumeInstances": edges([{"environment": ENVIRONMENTS[e]} for e in envs])
                }
            }
        if root == "volumeInstanceBackupList":
            return [{"id": b} for b in BACKUPS[v["id"]]]
        if root == "deployment":
            return {"environmentId": DEPLOYMENTS[v["id"]]}
        if root == "service":
            return {"project": {"environments": project_node(SERVICES[v["id"]])["environments"]}}
        raise AssertionError(f"the map sent an unexpected lookup: {root}")


def resolve(calls: tuple[Call, ...], upstream: Railway | None = None) -> set[str]:
    """Every environment the calls touch, as the gateway's resolver finds them."""
    resolver = EnvironmentResolver(railway(), (upstream or Railway()).fetch, clock=lambda: 0.0)

    async def every() -> set[str]:
        found: set[str] = set()
        for call in calls:
            found |= await resolver.resolve(call) or set()
        return found

    return asyncio.run(every())


def refused_when_resolved(calls: tuple[Call, ...]) -> str:
    with pytest.raises(BrokerError) as caught:
        resolve(calls)
    return refusal_code(caught.value)


def test_the_incident_volume_delete_reaches_production_through_the_shared_volume() -> None:
    (call,) = post('mutation { volumeDelete(volumeId: "vol-pg") }').calls
    assert (call.action, call.effect) == ("volume:delete", "destructive")
    assert call.resources == ("volume:vol-pg",)
    assert call.environments == (lookup("volumeEnvironments", volumeId="vol-pg"),)
    upstream = Railway()
    assert resolve((call,), upstream) == {"prj-a/staging", "prj-a/production"}
    assert upstream.sent == ["projects", "projects"]  # paged through both projects


def test_a_volume_no_project_has_is_refused() -> None:
    (call,) = post('mutation { volumeDelete(volumeId: "vol-gone") }').calls
    assert refused_when_resolved((call,)) == "environment_unresolved"


def test_project_bs_staging_is_not_project_as_staging() -> None:
    q = (
        'mutation { variableUpsert(input: {projectId: "prj-b", environmentId: "env-b-stg", '
        'name: "A", value: "1"}) }'
    )
    (call,) = post(q).calls
    assert call.environments == (by_id("env-b-stg"),)
    assert resolve((call,)) == {"prj-b/staging"}


def test_instance_calls_reach_every_environment_of_the_instances_volume() -> None:
    (call,) = post('mutation { volumeInstanceBackupCreate(volumeInstanceId: "vi-stg") }').calls
    assert call.environments == (lookup("instanceEnvironments", instanceId="vi-stg"),)
    upstream = Railway()
    assert resolve((call,), upstream) == {"prj-a/staging", "prj-a/production"}
    assert upstream.sent == ["volumeInstance"]  # one round trip from the instance


BACKUP_DELETE = (
    "mutation($b: String!, $i: String!) "
    "{ volumeInstanceBackupDelete(volumeInstanceBackupId: $b, volumeInstanceId: $i) "
    "{ workflowId } }"
)


def test_a_backup_of_the_instance_named_reaches_every_environment_of_its_volume() -> None:
    (call,) = post(BACKUP_DELETE, {"b": "bk-1", "i": "vi-stg"}).calls
    assert (call.action, call.effect) == ("backup:delete", "destructive")
    assert call.resources == ("backup:bk-1", "volume-instance:vi-stg")
    assert call.environments == (lookup("instanceEnvironments", instanceId="vi-stg"),)
    assert resolve((call,)) == {"prj-a/staging", "prj-a/production"}


def test_a_backup_of_another_instance_is_refused_before_any_environment() -> None:
    # production's backup, named together with staging's instance
    (call,) = post(BACKUP_DELETE, {"b": "bk-9", "i": "vi-stg"}).calls
    assert refused_when_resolved((call,)) == "relation_unproven"


def test_restore_names_the_services_it_wipes_as_resources() -> None:
    q = (
        'mutation { volumeInstanceBackupRestore(volumeInstanceBackupId: "bk-1", '
        'volumeInstanceId: "vi-stg", wipeServiceIds: ["svc-a", "svc-b"]) { workflowId } }'
    )
    (call,) = post(q).calls
    assert call.action == "backup:restore"
    assert call.resources == (
        "backup:bk-1",
        "volume-instance:vi-stg",
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
    q = 'mutation { serviceDelete(id: "svc-a", environmentId: "env-a-stg") }'
    (one,) = post(q).calls
    assert one.environments == (by_id("env-a-stg"),)
    assert resolve((one,)) == {"prj-a/staging"}
    (every,) = post('mutation { serviceDelete(id: "svc-a") }').calls
    assert every.environments == (lookup("serviceEnvironments", serviceId="svc-a"),)
    assert every.effect == "destructive"
    assert resolve((every,)) == {"prj-a/staging", "prj-a/production"}


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
    ("query", "reason"),
    [
        ('mutation { apiTokenCreate(input: {name: "x"}) }', "wider than any capability token"),
        ("mutation { twoFactorInfoDelete }", "turns off two-factor authentication"),
        ('mutation { loginSessionConsume(code: "c") }', "a new account credential"),
        ('mutation { webhookTest(url: "https://x.example", payload: "x") }', "to any URL"),
        ("query { sessions { edges { node { id } } } }", "login sessions"),
    ],
)
def test_refused_fields_answer_route_refused_with_their_reason(query: str, reason: str) -> None:
    code, detail = refusal(query)
    assert code == "route_refused"
    assert reason in detail


def test_a_refused_field_hidden_among_allowed_ones_refuses_the_request() -> None:
    code, _ = refusal(
        "query A { projects { edges { node { id } } } } "
        'mutation B { apiTokenCreate(input: {name: "x"}) }',
        operationName="A",
    )
    assert code == "route_refused"


# --- nested secrets ---------------------------------------------------------------------


def test_decrypted_config_of_the_environment_named_is_a_variable_read_there() -> None:
    q = 'query { environment(id: "env-a-stg") { name config(decryptVariables: true) } }'
    calls = post(q).calls
    assert {(c.action, c.environments) for c in calls} == {
        ("environment:read", (by_id("env-a-stg"),)),
        ("variable:read", (by_id("env-a-stg"),)),
    }
    assert resolve(calls) == {"prj-a/staging"}


# --- cache policy ----------------------------------------------------------------------


def test_a_deployments_environment_is_cached_but_its_name_is_asked_again_for_writes() -> None:
    upstream = Railway()
    resolver = EnvironmentResolver(railway(), upstream.fetch, clock=lambda: 0.0)
    (write,) = post('mutation { deploymentRollback(id: "dep-1") }').calls
    (read,) = post('query { deployment(id: "dep-1") { id status } }').calls

    async def run() -> None:
        for call in (write, write, read):
            assert await resolver.resolve(call) == {"prj-a/staging"}

    asyncio.run(run())
    # the deployment's environment id once (immutable); its name again for the second
    # write (an environment can be renamed); nothing for the read
    assert upstream.sent == ["deployment", "environment", "environment"]


@pytest.mark.parametrize(
    "query",
    [
        # every environment of a project, with their variables
        'query { project(id: "p") { environments { edges { node '
        "{ variables { edges { node { name } } } } } } } }",
        # a harmless-looking deployment read that walks into the environment's secrets
        'query { deployment(id: "dep-1") { environment { config(decryptVariables: true) } } }',
        # out of the environment named, into another one through the shared volume
        'query { environment(id: "env-a-stg") '
        "{ volumeInstances { edges { node { volume { id } } } } } }",
        # through a fragment and an alias
        'query { e: environment(id: "env-a-stg") { ...F } } '
        "fragment F on Environment { sourceEnvironment { name } }",
    ],
)
def test_secrets_below_harmless_reads_are_refused_when_their_environment_is_unknown(
    query: str,
) -> None:
    calls = post(query).calls
    assert any(c.action in ("variable:read", "environment:read", "volume:read") for c in calls)
    assert refused_when_resolved(calls) == "environment_unresolved"


# --- keys ------------------------------------------------------------------------------


def test_account_and_project_keys_each_have_their_header() -> None:
    route_map = railway()
    assert route_map.auth_headers() == {"authorization", "project-access-token"}
    account, project = route_map.auth_for(None), route_map.auth_for("project-token")
    assert (account.header, account.format) == ("Authorization", "Bearer {key}")
    assert (project.header, project.format) == ("Project-Access-Token", "{key}")


# --- the check against the real schema --------------------------------------------------


def test_the_map_names_every_root_field_of_the_real_schema_with_no_error() -> None:
    report = check_route_map(railway(), railway_snapshot())
    assert [f.subject for f in report.errors] == []
    assert [f.subject for f in report.gaps] == []


def test_the_command_users_run_passes_on_the_snapshot(tmp_path: Path) -> None:
    result = runner_on(tmp_path)("routemap", "check", "railway", "--schema", str(RAILWAY_SCHEMA))
    assert result.exit_code == 0, result.output
    assert "all 395/395 (50 refused by name)" in result.output
    assert "errors: none" in result.output


# --- the map's lookups sent by the gateway, over a socket, to the Railway replica ---------


@pytest.fixture(scope="module")
def replica() -> Iterator[ReplicaServer]:
    """The replica (Railway's schema executed by graphql-core) on a free loopback port."""
    with serve_replica(MASTER_KEY, secrets.token_urlsafe(16), clock=FrozenClock(NOW)) as server:
        yield server


@pytest.fixture
def replica_url(replica: ReplicaServer) -> Iterator[str]:
    yield replica.url
    replica.state.reset()


def on_replica(url: str, query: str, variables: dict[str, Any] | None = None) -> set[str]:
    """Classify ``query`` with the map, then resolve its calls as the gateway does: the
    gateway's own Upstream client sends each lookup with the master key."""
    calls = post(query, variables).calls

    async def run() -> set[str]:
        upstream = Upstream()
        await upstream.start()
        try:

            async def fetch(request: LookupRequest) -> tuple[int, object]:
                auth = ("Authorization", f"Bearer {MASTER_KEY}")
                return await upstream.lookup(url, request, auth)

            resolver = EnvironmentResolver(railway(), fetch, clock=lambda: 0.0)
            found: set[str] = set()
            for call in calls:
                found |= await resolver.resolve(call) or set()
            return found
        finally:
            await upstream.close()

    return asyncio.run(run())


def test_on_the_replica_the_incidents_volume_is_also_productions(replica_url: str) -> None:
    q = "mutation($v: String!) { volumeDelete(volumeId: $v) }"
    found = on_replica(replica_url, q, {"v": IDS.shared_volume})
    assert found == {f"{IDS.shop}/staging", f"{IDS.shop}/production"}


def test_on_the_replica_blogs_staging_is_qualified_by_its_project(replica_url: str) -> None:
    q = (
        "mutation($p: String!, $e: String!) { variableUpsert(input: {projectId: $p, "
        'environmentId: $e, name: "A", value: "1"}) }'
    )
    found = on_replica(replica_url, q, {"p": IDS.blog, "e": IDS.blog_staging})
    assert found == {f"{IDS.blog}/staging"}
    assert f"{IDS.shop}/staging" not in found


def test_on_the_replica_a_backup_is_proven_to_be_the_instances(replica_url: str) -> None:
    pair = {"b": IDS.production_backup, "i": IDS.production_instance}
    assert on_replica(replica_url, BACKUP_DELETE, pair) == {
        f"{IDS.shop}/staging",
        f"{IDS.shop}/production",
    }
    # staging's instance has a backup of its own; production's is still not one of them
    create = (
        "mutation($i: String!) { volumeInstanceBackupCreate(volumeInstanceId: $i) { workflowId } }"
    )
    sent = httpx.post(
        replica_url + ENDPOINT,
        json={"query": create, "variables": {"i": IDS.staging_instance}},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    )
    assert sent.status_code == 200, sent.text
    assert "errors" not in sent.json(), sent.text
    with pytest.raises(BrokerError) as caught:
        on_replica(replica_url, BACKUP_DELETE, {**pair, "i": IDS.staging_instance})
    assert refusal_code(caught.value) == "relation_unproven"


def test_on_the_replica_a_deployment_is_placed_in_its_environment(replica_url: str) -> None:
    q = "mutation($d: String!) { deploymentRollback(id: $d) }"
    found = on_replica(replica_url, q, {"d": IDS.api_production_deployment})
    assert found == {f"{IDS.shop}/production"}


def test_on_the_replica_a_service_deleted_without_environment_leaves_every_one(
    replica_url: str,
) -> None:
    q = "mutation($s: String!, $e: String) { serviceDelete(id: $s, environmentId: $e) }"
    every = on_replica(replica_url, q, {"s": IDS.api, "e": None})
    assert every == {f"{IDS.shop}/staging", f"{IDS.shop}/production"}
    one = on_replica(replica_url, q, {"s": IDS.api, "e": IDS.shop_staging})
    assert one == {f"{IDS.shop}/staging"}
