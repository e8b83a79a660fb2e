"""The lookups the gateway sends for the ``railway`` map (SYNTAX13.md's examples), answered
by the replica in the real shapes: the walk from a volume to its environments pages."""

from __future__ import annotations

from typing import Any

from broker.demo.railway import IDS

from .railway_support import Replica

VOLUME_ENVIRONMENTS = """query($after: String) { projects(first: 1, after: $after) {
  pageInfo { hasNextPage endCursor }
  edges { node { volumes { edges { node { id volumeInstances { edges { node {
    environment { name projectId } } } } } } } } } } }"""


def _volume_environments(replica: Replica, volume_id: str) -> tuple[list[str], int]:
    """Page through every project as the gateway would; (qualified environments, pages)."""
    found: list[str] = []
    after, pages = None, 0
    while True:
        data: Any = replica.data(VOLUME_ENVIRONMENTS, {"after": after})["projects"]
        pages += 1
        for project in data["edges"]:
            for volume in project["node"]["volumes"]["edges"]:
                if volume["node"]["id"] != volume_id:
                    continue
                for instance in volume["node"]["volumeInstances"]["edges"]:
                    env = instance["node"]["environment"]
                    found.append(f"{env['projectId']}/{env['name']}")
        if not data["pageInfo"]["hasNextPage"]:
            return found, pages
        after = data["pageInfo"]["endCursor"]


def test_an_instance_leads_to_every_environment_of_its_volume(replica: Replica) -> None:
    query = "query($id: String!) { volumeInstance(id: $id) { volumeId } }"
    volume_id = replica.data(query, {"id": IDS.staging_instance})["volumeInstance"]["volumeId"]
    assert volume_id == IDS.shared_volume
    environments, pages = _volume_environments(replica, volume_id)
    assert environments == [f"{IDS.shop}/staging", f"{IDS.shop}/production"]
    assert pages == 2  # shop, then blog: the second page is really asked for


def test_a_qualified_environment_from_its_id(replica: Replica) -> None:
    query = "query($id: String!) { environment(id: $id) { name projectId } }"
    shop = replica.data(query, {"id": IDS.shop_staging})["environment"]
    blog = replica.data(query, {"id": IDS.blog_staging})["environment"]
    assert shop["name"] == blog["name"] == "staging"
    assert (shop["projectId"], blog["projectId"]) == (IDS.shop, IDS.blog)


def test_the_backup_ids_of_an_instance_prove_or_disprove_the_pair(replica: Replica) -> None:
    query = "query($i: String!) { volumeInstanceBackupList(volumeInstanceId: $i) { id } }"
    production = replica.data(query, {"i": IDS.production_instance})["volumeInstanceBackupList"]
    staging = replica.data(query, {"i": IDS.staging_instance})["volumeInstanceBackupList"]
    assert {"id": IDS.production_backup} in production
    assert {"id": IDS.production_backup} not in staging


def test_a_service_s_environments_through_its_instances(replica: Replica) -> None:
    query = """query($id: String!) { service(id: $id) { serviceInstances {
      edges { node { environmentId serviceName latestDeployment { id status } } } } } }"""
    edges = replica.data(query, {"id": IDS.api})["service"]["serviceInstances"]["edges"]
    assert [(e["node"]["environmentId"], e["node"]["latestDeployment"]) for e in edges] == [
        (IDS.shop_staging, {"id": IDS.api_staging_deployment, "status": "SUCCESS"}),
        (IDS.shop_production, {"id": IDS.api_production_deployment, "status": "SUCCESS"}),
    ]
    delete = "mutation($id: String!, $e: String) { serviceDelete(id: $id, environmentId: $e) }"
    replica.data(delete, {"id": IDS.api, "e": IDS.shop_staging})
    edges = replica.data(query, {"id": IDS.api})["service"]["serviceInstances"]["edges"]
    assert [e["node"]["environmentId"] for e in edges] == [IDS.shop_production]
    one = """query($e: String!, $s: String!) { serviceInstance(environmentId: $e, serviceId: $s) {
      serviceId activeDeployments { id } } }"""
    error = replica.error(one, {"e": IDS.shop_staging, "s": IDS.api})
    assert error["message"] == "ServiceInstance not found"
    live = replica.data(one, {"e": IDS.shop_production, "s": IDS.api})["serviceInstance"]
    assert live["activeDeployments"] == [{"id": IDS.api_production_deployment}]
