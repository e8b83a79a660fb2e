"""The resolver's side of the lookup language: pages, chains, caps, relation checks and
the cache policy (mutable relations are asked again for writes). The upstream here is a
function that answers like the provider; the gateway over sockets is tested with the
Railway replica in tests/gateway/test_railway_*."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from broker.errors import BrokerError
from broker.gateway.resolve import EnvironmentResolver
from broker.routemap import parse_route_map, refusal_code
from broker.routemap.lookups import LookupRequest
from broker.routemap.model import Call, EnvLookup, LookupCall, RelationCheck

MAP: dict[str, Any] = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "RouteMap",
    "metadata": {"name": "paged"},
    "spec": {
        "provider": "paged",
        "upstream": "http://127.0.0.1:1",
        "auth": {"header": "Authorization", "format": "Bearer {key}"},
        "actions": {"volume:delete": {"effect": "destructive"}},
        "lookups": {
            "volumeEnvironments": {
                "graphql": (
                    "query($after: String) { projects(after: $after) { pageInfo { hasNextPage"
                    " endCursor } edges { node { volumes { edges { node { id volumeInstances"
                    " { edges { node { environment { name projectId } } } } } } } } } } }"
                ),
                "result": (
                    "data.projects.edges[*].node.volumes.edges[?node.id=={volumeId}]"
                    ".node.volumeInstances.edges[*].node.environment"
                ),
                "format": "{projectId}/{name}",
                "pages": {
                    "cursor": "data.projects.pageInfo.endCursor",
                    "more": "data.projects.pageInfo.hasNextPage",
                    "variable": "after",
                    "max": 3,
                },
                "cache": {"seconds": 60},
            },
            "instanceVolume": {
                "graphql": "query($id: String!) { volumeInstance(id: $id) { volumeId } }",
                "variables": {"id": "{instanceId}"},
                "result": "data.volumeInstance.volumeId",
                "then": {"lookup": "volumeEnvironments", "param": "volumeId"},
                "cache": "immutable",
            },
            "instanceBackups": {
                "graphql": "query($id: String!) { backups(id: $id) { id } }",
                "variables": {"id": "{instanceId}"},
                "result": "data.backups[*].id",
            },
        },
        "graphql": {"endpoint": "/graphql", "operations": {"query": {}}},
    },
}


def _project(cursor: str, more: bool, volumes: list[tuple[str, list[str]]]) -> dict[str, Any]:
    edges = [
        {
            "node": {
                "volumes": {
                    "edges": [
                        {
                            "node": {
                                "id": vid,
                                "volumeInstances": {
                                    "edges": [
                                        {"node": {"environment": {"name": n, "projectId": "p1"}}}
                                        for n in envs
                                    ]
                                },
                            }
                        }
                        for vid, envs in volumes
                    ]
                }
            }
        }
    ]
    return {
        "data": {
            "projects": {"pageInfo": {"hasNextPage": more, "endCursor": cursor}, "edges": edges}
        }
    }


class Upstream:
    """Answers like the provider, and keeps every look-up it was sent."""

    def __init__(self, pages: list[dict[str, Any]], delay: float = 0.0) -> None:
        self.pages = pages
        self.delay = delay
        self.sent: list[LookupRequest] = []
        self.volume_of = {"i1": "v2"}
        self.backups = {"i1": ["b1"]}

    async def fetch(self, request: LookupRequest) -> tuple[int, object]:
        self.sent.append(request)
        await asyncio.sleep(self.delay)
        assert request.json is not None
        query, variables = request.json["query"], request.json["variables"]
        if "volumeInstance(" in query:
            return 200, {"data": {"volumeInstance": {"volumeId": self.volume_of[variables["id"]]}}}
        if "backups(" in query:
            ids = self.backups.get(variables["id"], [])
            return 200, {"data": {"backups": [{"id": b} for b in ids]}}
        index = 0 if variables["after"] is None else int(variables["after"])
        return 200, self.pages[index]


def resolver(
    upstream: Upstream, now: list[float] | None = None, **spec: Any
) -> EnvironmentResolver:
    doc = copy.deepcopy(MAP)
    doc["spec"].update(spec)
    clock = now or [0.0]
    return EnvironmentResolver(
        parse_route_map(doc, "paged.yaml"), upstream.fetch, clock=lambda: clock[0]
    )


def volume_call(effect: str = "destructive", volume: str = "v2") -> Call:
    lookup = LookupCall("volumeEnvironments", (("volumeId", volume),))
    return Call("volume:delete", effect, (f"volume:{volume}",), (EnvLookup(lookup),))


PAGES = [
    _project("1", True, [("v1", ["staging"])]),
    _project("2", True, [("v2", ["staging"])]),
    _project("", False, [("v2", ["production"])]),
]


def test_a_paged_lookup_reads_every_page_and_unions_them() -> None:
    up = Upstream(PAGES)
    found = asyncio.run(resolver(up).resolve(volume_call()))
    assert found == frozenset({"p1/staging", "p1/production"})
    assert [r.json["variables"]["after"] for r in up.sent if r.json] == [None, "1", "2"]


def test_a_lookup_that_hits_its_page_cap_refuses_the_call() -> None:
    up = Upstream([*PAGES[:2], _project("3", True, []), _project("", False, [])])
    with pytest.raises(BrokerError) as caught:
        asyncio.run(resolver(up).resolve(volume_call()))
    assert refusal_code(caught.value) == "environment_unresolved"
    assert "cap of 3 pages" in caught.value.detail
    assert len(up.sent) == 3  # never a fourth request


def test_a_lookup_that_finds_nothing_on_any_page_refuses() -> None:
    up = Upstream(PAGES)
    with pytest.raises(BrokerError) as caught:
        asyncio.run(resolver(up).resolve(volume_call(volume="v9")))
    assert refusal_code(caught.value) == "environment_unresolved"


def test_a_slow_lookup_is_cut_at_its_time_cap() -> None:
    lookups = copy.deepcopy(MAP["spec"]["lookups"])
    lookups["volumeEnvironments"]["timeout_seconds"] = 0.05
    up = Upstream(PAGES, delay=0.03)
    with pytest.raises(BrokerError) as caught:
        asyncio.run(resolver(up, lookups=lookups).resolve(volume_call()))
    assert refusal_code(caught.value) == "environment_unresolved"
    assert "time cap" in caught.value.detail


def test_mutable_relations_serve_reads_from_cache_but_writes_ask_again() -> None:
    up = Upstream(PAGES)
    r = resolver(up)
    asyncio.run(r.resolve(volume_call("read")))
    asyncio.run(r.resolve(volume_call("read")))
    assert len(up.sent) == 3  # the second read used the cache
    # the volume gained an instance in another project's environment meanwhile
    up.pages = [*PAGES[:2], _project("", False, [("v2", ["production", "dev"])])]
    found = asyncio.run(r.resolve(volume_call("destructive")))
    assert "p1/dev" in found
    assert len(up.sent) == 6


def test_a_chain_follows_then_and_immutable_links_are_cached_for_writes_too() -> None:
    up = Upstream(PAGES)
    r = resolver(up)
    call = Call(
        "volume:delete",
        "destructive",
        (),
        (EnvLookup(LookupCall("instanceVolume", (("instanceId", "i1"),))),),
    )
    assert asyncio.run(r.resolve(call)) == frozenset({"p1/staging", "p1/production"})
    sent = len(up.sent)
    asyncio.run(r.resolve(call))
    # the instance's volume came from the cache; the volume's environments were asked again
    assert sum(1 for q in up.sent[sent:] if "volumeInstance(" in q.json["query"]) == 0  # type: ignore[index]
    assert len(up.sent) - sent == 3


@pytest.mark.parametrize(("backup", "ok"), [("b1", True), ("b2", False)])
def test_a_relation_check_refuses_a_backup_of_another_instance(backup: str, ok: bool) -> None:
    up = Upstream(PAGES)
    check = RelationCheck(
        LookupCall("instanceBackups", (("instanceId", "i1"),)), backup, "it must belong"
    )
    call = Call("volume:delete", "destructive", (), volume_call().environments, (check,))
    if ok:
        assert asyncio.run(resolver(up).resolve(call))
        return
    with pytest.raises(BrokerError) as caught:
        asyncio.run(resolver(up).resolve(call))
    assert refusal_code(caught.value) == "relation_unproven"
    assert len(up.sent) == 1  # refused before any environment was looked up
