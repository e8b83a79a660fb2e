"""Tokens as on the real API: Bearer account or workspace tokens, Project-Access-Token
project tokens scoped to one project and one environment."""

from __future__ import annotations

import pytest

from broker.demo.railway import IDS

from .railway_support import Replica

PROJECTS = "{ projects { edges { node { name } } } }"
ENVIRONMENT = "query($id: String!) { environment(id: $id) { name } }"
DELETE_VOLUME = "mutation($v: String!) { volumeDelete(volumeId: $v) }"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic bm90OmF0b2tlbg=="},
        {"Authorization": "Bearer"},
        {"Project-Access-Token": "not-a-token"},
    ],
    ids=["missing", "wrong", "not-bearer", "empty", "wrong-project-token"],
)
def test_a_missing_or_wrong_token_is_not_authorized_and_changes_nothing(
    replica: Replica, headers: dict[str, str]
) -> None:
    response = replica.post(DELETE_VOLUME, {"v": IDS.shared_volume}, headers=headers)
    assert response.status_code == 200  # as the real API: the error is in the body
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert (error["message"], error["path"]) == ("Not Authorized", ["volumeDelete"])
    assert IDS.shared_volume in replica.server.state.tables.volumes
    [entry] = replica.requests()
    assert entry["auth"] == ("missing" if not headers else "invalid")
    assert entry["operations"][0]["executed"] is False


def test_validation_comes_before_the_token(replica: Replica) -> None:
    response = replica.post('{ volume(id: "x") { id } }', headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 400


def test_a_workspace_token_sees_the_workspace_but_not_me(replica: Replica) -> None:
    headers = replica.bearer(replica.workspace_token)
    assert len(replica.data(PROJECTS, headers=headers)["projects"]["edges"]) == 2
    assert replica.error("{ me { id } }", headers=headers)["message"] == "Not Authorized"


def test_a_project_token_sees_its_project_and_environment_only(replica: Replica) -> None:
    headers = replica.project(replica.project_token)  # seeded: shop's staging
    assert replica.data(PROJECTS, headers=headers)["projects"]["edges"] == [
        {"node": {"name": "shop"}}
    ]
    assert replica.data(ENVIRONMENT, {"id": IDS.shop_staging}, headers=headers) == {
        "environment": {"name": "staging"}
    }
    for other in (IDS.shop_production, IDS.blog_staging):
        assert (
            replica.error(ENVIRONMENT, {"id": other}, headers=headers)["message"]
            == "Not Authorized"
        )
    project = (
        "query($id: String!) { project(id: $id) { environments { edges { node { name } } } } }"
    )
    shop = replica.data(project, {"id": IDS.shop}, headers=headers)["project"]
    assert shop["environments"]["edges"] == [{"node": {"name": "staging"}}]
    assert replica.error(project, {"id": IDS.blog}, headers=headers)["message"] == "Not Authorized"
    assert replica.error("{ me { id } }", headers=headers)["message"] == "Not Authorized"


def test_a_project_token_sees_only_its_environment_s_instance_of_a_shared_volume(
    replica: Replica,
) -> None:
    headers = replica.project(replica.project_token)
    query = """query($id: String!) { project(id: $id) { volumes { edges { node {
      volumeInstances { edges { node { environmentId } } } } } } } }"""
    [volume] = replica.data(query, {"id": IDS.shop}, headers=headers)["project"]["volumes"]["edges"]
    instances = volume["node"]["volumeInstances"]["edges"]
    assert instances == [{"node": {"environmentId": IDS.shop_staging}}]
    backups = "query($i: String!) { volumeInstanceBackupList(volumeInstanceId: $i) { id } }"
    error = replica.error(backups, {"i": IDS.production_instance}, headers=headers)
    assert error["message"] == "Not Authorized"
    secrets = "query($id: String!) { environment(id: $id) { config(decryptVariables: true) } }"
    assert replica.error(secrets, {"id": IDS.shop_production}, headers=headers)["message"] == (
        "Not Authorized"
    )


def test_a_project_token_cannot_write_another_environment(replica: Replica) -> None:
    headers = replica.project(replica.project_token)
    query = "mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }"
    given = {"projectId": IDS.shop, "serviceId": IDS.api, "name": "X", "value": "1"}
    assert replica.data(query, {"i": {**given, "environmentId": IDS.shop_staging}}, headers=headers)
    error = replica.error(
        query, {"i": {**given, "environmentId": IDS.shop_production}}, headers=headers
    )
    assert error["message"] == "Not Authorized"
    mint = "mutation($i: ProjectTokenCreateInput!) { projectTokenCreate(input: $i) }"
    scope = {"projectId": IDS.shop, "environmentId": IDS.shop_staging, "name": "more"}
    assert replica.error(mint, {"i": scope}, headers=headers)["message"] == "Not Authorized"


def test_a_staging_project_token_can_delete_the_shared_volume_everywhere(
    replica: Replica,
) -> None:
    """The incident: a volume is project-level, and its instances span environments."""
    headers = replica.project(replica.project_token)
    assert replica.data(DELETE_VOLUME, {"v": IDS.shared_volume}, headers=headers) == {
        "volumeDelete": True
    }
    assert replica.server.state.tables.volume_instances == {}


def test_the_project_token_header_wins_over_authorization(replica: Replica) -> None:
    headers = {**replica.bearer(replica.master_key), **replica.project(replica.project_token)}
    assert replica.error(ENVIRONMENT, {"id": IDS.shop_production}, headers=headers)["message"] == (
        "Not Authorized"
    )
