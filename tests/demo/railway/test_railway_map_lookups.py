"""Every lookup of the shipped ``railway`` route map, sent to the replica as the gateway sends
it: the ones the incident needs answer with data; the others answer only "not implemented
by the replica" (never a validation error: the map and the replica share the real schema)."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest
import yaml

from broker.demo.railway import IDS, railway_id

from .railway_support import Replica

MAP = yaml.safe_load(
    resources.files("broker.routemap").joinpath("maps/railway.yaml").read_text(encoding="utf-8")
)
LOOKUPS: dict[str, dict[str, Any]] = MAP["spec"]["lookups"]

# A lookup's parameters, filled with the seed's ids (production's side of the incident);
# the ids of objects the replica does not model (patches, plugins) are ids it never made.
PARAMS = {
    "id": IDS.shop_production,
    "deploymentId": IDS.api_production_deployment,
    "instanceId": IDS.production_instance,
    "serviceId": IDS.api,
    "projectId": IDS.shop,
    "workspaceId": IDS.workspace,
}
SERVED = {
    "environmentName": {"environment": {"name": "production", "projectId": IDS.shop}},
    "deploymentEnvironment": {"deployment": {"environmentId": IDS.shop_production}},
    "instanceBackupIds": {"volumeInstanceBackupList": [{"id": IDS.production_backup}]},
}
ALSO_SERVED = {
    "volumeEnvironments",
    "instanceEnvironments",
    "serviceEnvironments",
    "projectEnvironments",
    "workspaceEnvironments",
    "allEnvironments",
}


def _variables(lookup: dict[str, Any]) -> dict[str, Any]:
    filled: dict[str, Any] = {}
    for name, template in (lookup.get("variables") or {}).items():
        [param] = re.fullmatch(r"\{(\w+)\}", template).groups()  # type: ignore[union-attr]
        filled[name] = PARAMS.get(param, railway_id("not-seeded", param))
    if "pages" in lookup:
        filled[lookup["pages"]["variable"]] = None  # the first page
    return filled


def test_the_map_s_incident_lookups_are_all_there() -> None:
    assert set(SERVED) | ALSO_SERVED <= set(LOOKUPS)


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_each_lookup_answers_data_or_not_implemented(replica: Replica, name: str) -> None:
    lookup = LOOKUPS[name]
    body = replica.gql(lookup["graphql"], _variables(lookup))
    if name in SERVED or name in ALSO_SERVED:
        assert "errors" not in body, body
        if name in SERVED:
            assert body["data"] == SERVED[name]
        return
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"NOT_IMPLEMENTED"}, body


def test_the_instance_lookup_names_both_environments_of_the_shared_volume(
    replica: Replica,
) -> None:
    lookup = LOOKUPS["instanceEnvironments"]
    data = replica.data(lookup["graphql"], _variables(lookup))
    edges = data["volumeInstance"]["volume"]["volumeInstances"]["edges"]
    assert [e["node"]["environment"]["name"] for e in edges] == ["staging", "production"]
