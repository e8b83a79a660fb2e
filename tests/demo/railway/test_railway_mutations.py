"""Mutations with the real API's argument names and input objects really change the state."""

from __future__ import annotations

from typing import Any

from broker.demo.railway import IDS
from broker.demo.railway.seed import token_hash

from .railway_support import Replica

VARIABLES = """query($p: String!, $e: String!, $s: String) {
  variables(projectId: $p, environmentId: $e, serviceId: $s) }"""
INSTANCES = """query($id: String!) { project(id: $id) { volumes { edges { node { id
  volumeInstances { edges { node { id environmentId serviceId mountPath } } } } } } } }"""
DELETE_VOLUME = "mutation($v: String!) { volumeDelete(volumeId: $v) }"


def _variables(replica: Replica, env: str, service: str | None = IDS.api) -> Any:
    return replica.data(VARIABLES, {"p": IDS.shop, "e": env, "s": service})["variables"]


def _instances(replica: Replica) -> list[dict[str, Any]]:
    project = replica.data(INSTANCES, {"id": IDS.shop})["project"]
    return [
        i["node"]
        for v in project["volumes"]["edges"]
        for i in v["node"]["volumeInstances"]["edges"]
    ]


def test_variable_upsert_and_delete_take_input_objects(replica: Replica) -> None:
    where = {"projectId": IDS.shop, "environmentId": IDS.shop_staging, "serviceId": IDS.api}
    upsert = "mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }"
    assert replica.data(upsert, {"i": {**where, "name": "LOG_LEVEL", "value": "warn"}}) == {
        "variableUpsert": True
    }
    assert _variables(replica, IDS.shop_staging)["LOG_LEVEL"] == "warn"
    assert _variables(replica, IDS.shop_production)["LOG_LEVEL"] == "info"  # untouched
    delete = "mutation($i: VariableDeleteInput!) { variableDelete(input: $i) }"
    assert replica.data(delete, {"i": {**where, "name": "LOG_LEVEL"}}) == {"variableDelete": True}
    assert "LOG_LEVEL" not in _variables(replica, IDS.shop_staging)
    error = replica.error(delete, {"i": {**where, "name": "LOG_LEVEL"}})
    assert error["message"] == "Variable not found"


def test_variable_collection_upsert_with_replace_deletes_every_other_variable(
    replica: Replica,
) -> None:
    query = "mutation($i: VariableCollectionUpsertInput!) { variableCollectionUpsert(input: $i) }"
    where = {"projectId": IDS.shop, "environmentId": IDS.shop_production, "serviceId": IDS.api}
    replica.data(query, {"i": {**where, "variables": {"NEW": "1"}}})
    assert set(_variables(replica, IDS.shop_production)) == {
        "REGION",
        "DATABASE_URL",
        "LOG_LEVEL",
        "NEW",
    }
    replica.data(query, {"i": {**where, "variables": {"ONLY": "2"}, "replace": True}})
    assert _variables(replica, IDS.shop_production) == {"REGION": "us-west2", "ONLY": "2"}
    error = replica.error(query, {"i": {**where, "variables": {"N": 3}}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_service_delete_with_an_environment_touches_that_one_only(replica: Replica) -> None:
    query = "mutation($id: String!, $e: String) { serviceDelete(id: $id, environmentId: $e) }"
    replica.data(query, {"id": IDS.api, "e": IDS.shop_staging})
    assert _variables(replica, IDS.shop_staging) == {"REGION": "us-west2"}
    assert "DATABASE_URL" in _variables(replica, IDS.shop_production)
    service = replica.server.state.tables.services[IDS.api]
    assert service.environment_ids == (IDS.shop_production,)
    replica.data(query, {"id": IDS.api, "e": None})  # every environment
    assert IDS.api not in replica.server.state.tables.services
    assert _variables(replica, IDS.shop_production, None) == {"REGION": "us-west2"}
    assert all(i["serviceId"] is None for i in _instances(replica))


def test_redeploy_and_rollback_make_new_deployments(replica: Replica) -> None:
    redeploy = "mutation($id: String!) { deploymentRedeploy(id: $id) { id status environmentId } }"
    new = replica.data(redeploy, {"id": IDS.api_production_deployment})["deploymentRedeploy"]
    assert new["id"] not in {IDS.api_production_deployment, IDS.api_production_previous}
    assert (new["status"], new["environmentId"]) == ("SUCCESS", IDS.shop_production)
    deployments = replica.server.state.tables.deployments
    assert deployments[IDS.api_production_deployment].status == "REMOVED"
    rollback = "mutation($id: String!) { deploymentRollback(id: $id) }"
    assert replica.data(rollback, {"id": IDS.api_production_previous}) == {
        "deploymentRollback": True
    }
    assert deployments[new["id"]].status == "REMOVED"
    assert [d.status for d in deployments.values()].count("SUCCESS") == 2  # one per environment


def test_volume_delete_removes_the_volume_from_both_environments(replica: Replica) -> None:
    assert {i["environmentId"] for i in _instances(replica)} == {
        IDS.shop_staging,
        IDS.shop_production,
    }
    assert replica.data(DELETE_VOLUME, {"v": IDS.shared_volume}) == {"volumeDelete": True}
    assert _instances(replica) == []
    error = replica.error(
        "query($i: String!) { volumeInstance(id: $i) { id } }", {"i": IDS.production_instance}
    )
    assert error["message"] == "VolumeInstance not found"
    tables = replica.server.state.tables
    assert (tables.volumes, tables.volume_instances, tables.backups, tables.schedules) == (
        {},
        {},
        {},
        {},
    )
    assert replica.error(DELETE_VOLUME, {"v": IDS.shared_volume})["message"] == "Volume not found"


def test_volume_instance_update_one_environment_or_all(replica: Replica) -> None:
    query = """mutation($v: String!, $e: String, $i: VolumeInstanceUpdateInput!) {
      volumeInstanceUpdate(volumeId: $v, environmentId: $e, input: $i) }"""
    given = {"mountPath": "/data", "serviceId": IDS.api}
    replica.data(query, {"v": IDS.shared_volume, "e": IDS.shop_staging, "i": given})
    paths = {i["environmentId"]: i["mountPath"] for i in _instances(replica)}
    assert paths == {IDS.shop_staging: "/data", IDS.shop_production: "/var/lib/postgresql/data"}
    replica.data(query, {"v": IDS.shared_volume, "e": None, "i": {"mountPath": "/all"}})
    # Every environment; and an absent serviceId disconnects, as the schema says.
    assert [(i["mountPath"], i["serviceId"]) for i in _instances(replica)] == [("/all", None)] * 2
    error = replica.error(query, {"v": IDS.shared_volume, "e": IDS.blog_staging, "i": given})
    assert error["message"] == "Environment not found"


def test_backup_create_delete_restore_lock(replica: Replica) -> None:
    create = """mutation($i: String!) {
      volumeInstanceBackupCreate(volumeInstanceId: $i, name: "manual") { workflowId } }"""
    flow = replica.data(create, {"i": IDS.staging_instance})["volumeInstanceBackupCreate"]
    assert flow["workflowId"]
    listing = "query($i: String!) { volumeInstanceBackupList(volumeInstanceId: $i) { id name } }"
    [made] = replica.data(listing, {"i": IDS.staging_instance})["volumeInstanceBackupList"]
    assert made["name"] == "manual"
    pair = {"b": IDS.production_backup, "i": IDS.production_instance}
    lock = """mutation($b: String!, $i: String!) {
      volumeInstanceBackupLock(volumeInstanceBackupId: $b, volumeInstanceId: $i) }"""
    assert replica.server.state.tables.backups[IDS.production_backup].expires_at is not None
    assert replica.data(lock, pair) == {"volumeInstanceBackupLock": True}
    assert replica.server.state.tables.backups[IDS.production_backup].expires_at is None
    restore = """mutation($b: String!, $i: String!) { volumeInstanceBackupRestore(
      volumeInstanceBackupId: $b, volumeInstanceId: $i, wipeServiceIds: []) { workflowId } }"""
    replica.data(restore, pair)
    delete = """mutation($b: String!, $i: String!) { volumeInstanceBackupDelete(
      volumeInstanceBackupId: $b, volumeInstanceId: $i) { workflowId } }"""
    replica.data(delete, {"b": made["id"], "i": IDS.staging_instance})
    assert replica.data(listing, {"i": IDS.staging_instance})["volumeInstanceBackupList"] == []
    kinds = [(w.kind, w.backup_id) for w in replica.server.state.tables.workflows]
    assert kinds == [
        ("create", made["id"]),
        ("restore", IDS.production_backup),
        ("delete", made["id"]),
    ]


def test_a_backup_named_with_another_instance_is_still_acted_on(replica: Replica) -> None:
    """The worst case a gateway must defend against: the pair is not checked by the replica."""
    delete = """mutation($b: String!, $i: String!) { volumeInstanceBackupDelete(
      volumeInstanceBackupId: $b, volumeInstanceId: $i) { workflowId } }"""
    replica.data(delete, {"b": IDS.production_backup, "i": IDS.staging_instance})
    assert IDS.production_backup not in replica.server.state.tables.backups


def test_backup_schedule_update_with_no_kinds_stops_backups(replica: Replica) -> None:
    query = """mutation($i: String!, $k: [VolumeInstanceBackupScheduleKind!]!) {
      volumeInstanceBackupScheduleUpdate(volumeInstanceId: $i, kinds: $k) }"""
    listing = (
        "query($i: String!) { volumeInstanceBackupScheduleList(volumeInstanceId: $i) { kind } }"
    )
    replica.data(query, {"i": IDS.production_instance, "k": ["WEEKLY", "MONTHLY", "WEEKLY"]})
    kinds = replica.data(listing, {"i": IDS.production_instance})[
        "volumeInstanceBackupScheduleList"
    ]
    assert kinds == [{"kind": "WEEKLY"}, {"kind": "MONTHLY"}]
    replica.data(query, {"i": IDS.production_instance, "k": []})
    assert replica.data(listing, {"i": IDS.production_instance}) == {
        "volumeInstanceBackupScheduleList": []
    }


def test_project_token_create_returns_a_token_and_keeps_only_its_hash(replica: Replica) -> None:
    query = "mutation($i: ProjectTokenCreateInput!) { projectTokenCreate(input: $i) }"
    given = {"projectId": IDS.shop, "environmentId": IDS.shop_production, "name": "ci"}
    token = replica.data(query, {"i": given})["projectTokenCreate"]
    assert isinstance(token, str)
    assert len(token) >= 24
    tables = replica.server.state.tables
    assert token not in repr(tables)
    assert token_hash(token) in tables.grants
    me = "{ projectToken { name projectId environmentId displayToken environment { name } } }"
    assert replica.data(me, headers=replica.project(token))["projectToken"] == {
        "name": "ci",
        "projectId": IDS.shop,
        "environmentId": IDS.shop_production,
        "displayToken": "********",
        "environment": {"name": "production"},
    }
    listing = "query($p: String!) { projectTokens(projectId: $p) { edges { node { name } } } }"
    names = [
        e["node"]["name"] for e in replica.data(listing, {"p": IDS.shop})["projectTokens"]["edges"]
    ]
    assert names == ["token-0", "ci"]


def test_environment_create_from_a_source_shares_its_volumes(replica: Replica) -> None:
    query = """mutation($i: EnvironmentCreateInput!) { environmentCreate(input: $i) {
      id name projectId volumeInstances { edges { node { volumeId } } } } }"""
    given = {"projectId": IDS.shop, "name": "preview", "sourceEnvironmentId": IDS.shop_staging}
    env = replica.data(query, {"i": given})["environmentCreate"]
    assert (env["name"], env["projectId"]) == ("preview", IDS.shop)
    assert env["volumeInstances"]["edges"] == [{"node": {"volumeId": IDS.shared_volume}}]
    assert _variables(replica, env["id"]) == _variables(replica, IDS.shop_staging)
    assert len(_instances(replica)) == 3  # the one volume, now in three environments
    again = replica.error(query, {"i": given})
    assert again["message"] == "An environment named preview already exists in this project"
    # The same name in another project is another environment.
    other = replica.data(query, {"i": {"projectId": IDS.blog, "name": "preview"}})
    assert other["environmentCreate"]["id"] != env["id"]
