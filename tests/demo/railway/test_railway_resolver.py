"""The gateway's classifier and environment resolver with the shipped ``railway`` map,
looking up over a real socket in the replica: the incident found through the real API's
shapes, and project names that repeat kept apart."""

from __future__ import annotations

import asyncio
import json
from functools import cache
from typing import Any

import httpx
import pytest

from broker.demo.railway import IDS
from broker.errors import BrokerError
from broker.gateway.resolve import EnvironmentResolver
from broker.routemap import RouteMap, canonical_request, classify, refusal_code, shipped_map
from broker.routemap.lookups import LookupRequest
from broker.routemap.model import Call

from .railway_support import Replica

BACKUP_DELETE = """mutation($b: String!, $i: String!) { volumeInstanceBackupDelete(
  volumeInstanceBackupId: $b, volumeInstanceId: $i) { workflowId } }"""
CREATE_BACKUP = """mutation($i: String!) {
  volumeInstanceBackupCreate(volumeInstanceId: $i) { workflowId } }"""
UPSERT = "mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }"


@cache
def _railway() -> RouteMap:
    return shipped_map("railway")  # compiling the map takes about half a second


def _calls(query: str, variables: dict[str, Any]) -> tuple[Call, ...]:
    railway = _railway()
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Content-Type": "application/json"}
    request = canonical_request("POST", "/graphql/v2", "", headers, options=railway.paths)
    return classify(railway, request, body).calls


def _resolve(replica: Replica, calls: tuple[Call, ...]) -> set[str]:
    """What the gateway's resolver finds, asking the replica with the master key."""

    async def run() -> set[str]:
        auth = replica.bearer(replica.master_key)
        async with httpx.AsyncClient(base_url=replica.server.url, timeout=5) as http:

            async def fetch(request: LookupRequest) -> tuple[int, object]:
                response = await http.request(
                    request.method, request.path, json=request.json, headers=auth
                )
                return response.status_code, response.json()

            resolver = EnvironmentResolver(_railway(), fetch, clock=lambda: 0.0)
            found: set[str] = set()
            for call in calls:
                found |= await resolver.resolve(call) or set()
            return found

    return asyncio.run(run())


def test_the_incident_volume_delete_is_found_to_reach_production(replica: Replica) -> None:
    calls = _calls("mutation($v: String!) { volumeDelete(volumeId: $v) }", {"v": IDS.shared_volume})
    assert _resolve(replica, calls) == {f"{IDS.shop}/staging", f"{IDS.shop}/production"}
    lookups = [e for e in replica.requests() if e["operations"][0]["root_fields"] == ["projects"]]
    assert len(lookups) == 1  # one page of 50 projects holds both
    assert IDS.shared_volume in replica.server.state.tables.volumes  # only looked, never acted


def test_an_instance_call_reaches_every_environment_of_the_volume(replica: Replica) -> None:
    query = (
        "mutation($i: String!) { volumeInstanceBackupCreate(volumeInstanceId: $i) { workflowId } }"
    )
    calls = _calls(query, {"i": IDS.staging_instance})
    assert _resolve(replica, calls) == {f"{IDS.shop}/staging", f"{IDS.shop}/production"}


def _refusal(replica: Replica, calls: tuple[Call, ...]) -> str:
    with pytest.raises(BrokerError) as caught:
        _resolve(replica, calls)
    return refusal_code(caught.value)


def test_a_backup_named_with_another_instance_is_refused(replica: Replica) -> None:
    replica.data(CREATE_BACKUP, {"i": IDS.staging_instance})  # staging's instance has a backup too
    calls = _calls(BACKUP_DELETE, {"b": IDS.production_backup, "i": IDS.staging_instance})
    assert _refusal(replica, calls) == "relation_unproven"
    good = _calls(BACKUP_DELETE, {"b": IDS.production_backup, "i": IDS.production_instance})
    assert _resolve(replica, good) == {f"{IDS.shop}/staging", f"{IDS.shop}/production"}


def test_an_instance_without_backups_disproves_the_relation(replica: Replica) -> None:
    calls = _calls(BACKUP_DELETE, {"b": IDS.production_backup, "i": IDS.staging_instance})
    assert _refusal(replica, calls) == "relation_unproven"


def test_the_second_project_s_staging_is_its_own(replica: Replica) -> None:
    given = {"serviceId": IDS.web, "name": "A", "value": "1"}
    blog = _calls(
        UPSERT, {"i": {**given, "projectId": IDS.blog, "environmentId": IDS.blog_staging}}
    )
    shop = _calls(
        UPSERT, {"i": {**given, "projectId": IDS.shop, "environmentId": IDS.shop_staging}}
    )
    assert _resolve(replica, blog) == {f"{IDS.blog}/staging"}
    assert _resolve(replica, shop) == {f"{IDS.shop}/staging"}
