"""Queries with the real API's shapes, over a real socket."""

from __future__ import annotations

from typing import Any

from broker.demo.railway import IDS

from .railway_support import Replica

PROJECT_ENVIRONMENTS = """
query($id: String!) { project(id: $id) { id name workspaceId
  environments { edges { node { id name projectId } } } } }
"""

VOLUMES = """
query($id: String!) { project(id: $id) { volumes { edges { node { id name
  volumeInstances { edges { node { id environmentId environment { name projectId } } } } } } } } }
"""


def _nodes(connection: dict[str, Any]) -> list[Any]:
    return [edge["node"] for edge in connection["edges"]]


def test_me_and_its_workspace_with_its_projects(replica: Replica) -> None:
    data = replica.data(
        "{ me { id email workspaces { id name projects { edges { node { name } } } } } }"
    )
    me = data["me"]
    assert me["id"] == IDS.user
    [workspace] = me["workspaces"]
    assert workspace["id"] == IDS.workspace
    assert [p["name"] for p in _nodes(workspace["projects"])] == ["shop", "blog"]
    query = "query($w: String!) { workspace(workspaceId: $w) { name projectCount } }"
    assert replica.data(query, {"w": IDS.workspace}) == {
        "workspace": {"name": "acme", "projectCount": 2}
    }


def test_projects_page_with_first_and_after(replica: Replica) -> None:
    query = """query($after: String) { projects(first: 1, after: $after) {
      edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }"""
    first = replica.data(query)["projects"]
    assert [n["name"] for n in _nodes(first)] == ["shop"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["endCursor"] == first["edges"][0]["cursor"]
    second = replica.data(query, {"after": first["pageInfo"]["endCursor"]})["projects"]
    assert [n["name"] for n in _nodes(second)] == ["blog"]
    assert second["pageInfo"]["hasNextPage"] is False
    error = replica.error(query, {"after": "not-a-cursor"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_the_second_project_has_environments_of_the_same_names(replica: Replica) -> None:
    shop = replica.data(PROJECT_ENVIRONMENTS, {"id": IDS.shop})["project"]
    blog = replica.data(PROJECT_ENVIRONMENTS, {"id": IDS.blog})["project"]
    names = {
        p["name"]: [(e["name"], e["id"]) for e in _nodes(p["environments"])] for p in (shop, blog)
    }
    assert names == {
        "shop": [("staging", IDS.shop_staging), ("production", IDS.shop_production)],
        "blog": [("staging", IDS.blog_staging), ("production", IDS.blog_production)],
    }
    assert shop["workspaceId"] == blog["workspaceId"] == IDS.workspace
    # environment(id, projectId): the pair must agree.
    query = "query($id: String!, $p: String) { environment(id: $id, projectId: $p) { name } }"
    assert (
        replica.data(query, {"id": IDS.blog_staging, "p": IDS.blog})["environment"]["name"]
        == "staging"
    )
    error = replica.error(query, {"id": IDS.blog_staging, "p": IDS.shop})
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_environments_root_connection_pages(replica: Replica) -> None:
    query = """query($p: String!, $after: String) {
      environments(projectId: $p, first: 1, after: $after) {
        edges { node { name } } pageInfo { hasNextPage endCursor } } }"""
    page = replica.data(query, {"p": IDS.shop})["environments"]
    rest = replica.data(query, {"p": IDS.shop, "after": page["pageInfo"]["endCursor"]})[
        "environments"
    ]
    assert [n["name"] for n in _nodes(page) + _nodes(rest)] == ["staging", "production"]
    assert (page["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasNextPage"]) == (True, False)


def test_the_shared_volume_has_instances_in_staging_and_production(replica: Replica) -> None:
    [volume] = _nodes(replica.data(VOLUMES, {"id": IDS.shop})["project"]["volumes"])
    assert (volume["id"], volume["name"]) == (IDS.shared_volume, "pg-data")
    instances = _nodes(volume["volumeInstances"])
    assert [(i["id"], i["environmentId"], i["environment"]) for i in instances] == [
        (IDS.staging_instance, IDS.shop_staging, {"name": "staging", "projectId": IDS.shop}),
        (
            IDS.production_instance,
            IDS.shop_production,
            {"name": "production", "projectId": IDS.shop},
        ),
    ]
    query = """query($id: String!) { volumeInstance(id: $id) { volumeId mountPath sizeMB state
      volume { name } service { name } } }"""
    assert replica.data(query, {"id": IDS.production_instance})["volumeInstance"] == {
        "volumeId": IDS.shared_volume,
        "mountPath": "/var/lib/postgresql/data",
        "sizeMB": 5000,
        "state": "READY",
        "volume": {"name": "pg-data"},
        "service": {"name": "api"},
    }


def test_the_backup_belongs_to_production_s_instance_only(replica: Replica) -> None:
    query = """query($i: String!) { volumeInstanceBackupList(volumeInstanceId: $i) {
      id name createdAt expiresAt } }"""
    [backup] = replica.data(query, {"i": IDS.production_instance})["volumeInstanceBackupList"]
    assert backup["id"] == IDS.production_backup
    assert backup["createdAt"] == "2030-03-17T17:46:40.000Z"
    assert replica.data(query, {"i": IDS.staging_instance}) == {"volumeInstanceBackupList": []}
    schedules = """query($i: String!) {
      volumeInstanceBackupScheduleList(volumeInstanceId: $i) { kind cron } }"""
    assert replica.data(schedules, {"i": IDS.production_instance}) == {
        "volumeInstanceBackupScheduleList": [{"kind": "DAILY", "cron": "0 3 * * *"}]
    }


def test_environment_config_decrypts_only_when_asked(replica: Replica) -> None:
    query = """query($id: String!, $d: Boolean) { environment(id: $id) {
      config(decryptVariables: $d) } }"""
    plain = replica.data(query, {"id": IDS.shop_production, "d": True})["environment"]["config"]
    api = plain["services"][IDS.api]
    assert api["variables"]["DATABASE_URL"]["value"].startswith("postgres://app:fake-prod-pw@")
    assert api["volumeMounts"] == {IDS.shared_volume: {"mountPath": "/var/lib/postgresql/data"}}
    assert plain["sharedVariables"] == {"REGION": {"value": "us-west2"}}
    hidden = replica.data(query, {"id": IDS.shop_production, "d": False})["environment"]["config"]
    assert hidden["services"][IDS.api]["variables"]["DATABASE_URL"] == {}
    assert "fake-prod-pw" not in str(hidden)


def test_variables_of_a_service_and_the_shared_ones(replica: Replica) -> None:
    query = """query($p: String!, $e: String!, $s: String) {
      variables(projectId: $p, environmentId: $e, serviceId: $s) }"""
    staging = replica.data(query, {"p": IDS.shop, "e": IDS.shop_staging, "s": IDS.api})
    assert staging["variables"] == {
        "REGION": "us-west2",
        "DATABASE_URL": "postgres://app:fake-staging-pw@pg.staging.internal:5432/shop",
        "LOG_LEVEL": "debug",
    }
    shared = replica.data(query, {"p": IDS.shop, "e": IDS.shop_staging, "s": None})
    assert shared["variables"] == {"REGION": "us-west2"}
    # The environment must be the project's: blog's staging is not shop's.
    error = replica.error(query, {"p": IDS.shop, "e": IDS.blog_staging, "s": IDS.api})
    assert error["message"] == "Environment not found"


def test_environment_variables_connection_names_no_values(replica: Replica) -> None:
    query = """query($id: String!) { environment(id: $id) { variables(first: 2) {
      edges { node { name serviceId environment { name } } } pageInfo { hasNextPage } } } }"""
    variables = replica.data(query, {"id": IDS.shop_production})["environment"]["variables"]
    assert [n["name"] for n in _nodes(variables)] == ["DATABASE_URL", "LOG_LEVEL"]
    assert variables["pageInfo"]["hasNextPage"] is True  # REGION, the shared one, is next


def test_deployments_by_input_newest_first(replica: Replica) -> None:
    query = """query($input: DeploymentListInput!) { deployments(input: $input, first: 10) {
      edges { node { id status environment { name } service { name } } } } }"""
    where = {"projectId": IDS.shop, "environmentId": IDS.shop_production}
    nodes = _nodes(replica.data(query, {"input": where})["deployments"])
    assert [(n["id"], n["status"]) for n in nodes] == [
        (IDS.api_production_deployment, "SUCCESS"),
        (IDS.api_production_previous, "REMOVED"),
    ]
    live = {**where, "status": {"in": ["SUCCESS"]}}
    assert len(_nodes(replica.data(query, {"input": live})["deployments"])) == 1
    one = """query($id: String!) {
      deployment(id: $id) { environmentId serviceId projectId canRollback } }"""
    assert replica.data(one, {"id": IDS.api_staging_deployment})["deployment"] == {
        "environmentId": IDS.shop_staging,
        "serviceId": IDS.api,
        "projectId": IDS.shop,
        "canRollback": True,
    }


def test_services_hang_off_the_project(replica: Replica) -> None:
    query = "query($id: String!) { project(id: $id) { services { edges { node { id name } } } } }"
    services = replica.data(query, {"id": IDS.shop})["project"]["services"]
    assert _nodes(services) == [{"id": IDS.api, "name": "api"}]
    one = "query($id: String!) { service(id: $id) { name projectId project { name } } }"
    assert replica.data(one, {"id": IDS.web})["service"] == {
        "name": "web",
        "projectId": IDS.blog,
        "project": {"name": "blog"},
    }


def test_unknown_ids_answer_not_found(replica: Replica) -> None:
    error = replica.error('{ project(id: "00000000-0000-0000-0000-000000000000") { id } }')
    assert (error["message"], error["path"]) == ("Project not found", ["project"])
