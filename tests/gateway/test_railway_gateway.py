"""The gateway with the shipped ``railway`` map in front of the Railway replica, over real
sockets: the incident's call on the real API's shapes, project-qualified environments,
nested secrets, relation checks and the key headers. Each refusal is checked where it
matters: what reached the replica, and what the replica still holds."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from broker.demo.railway import IDS
from tests.support.railway_stack import RailwayStack, build_railway_stack


@pytest.fixture(scope="module")
def _railway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RailwayStack]:
    tmp = tmp_path_factory.mktemp("railway-stack")
    yield from build_railway_stack(tmp, f"sqlite:///{tmp}/capbroker.db")


@pytest.fixture
def rw(_railway: RailwayStack) -> RailwayStack:
    _railway.reset()
    return _railway


def code(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def test_a_staging_read_and_write_pass_with_the_master_key_injected(rw: RailwayStack) -> None:
    token = rw.token()
    r = rw.call(token, "query($id: String!) { project(id: $id) { name } }", {"id": IDS.shop})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["project"]["name"] == "shop"
    upsert = "mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }"
    given = {
        "projectId": IDS.shop,
        "environmentId": IDS.shop_staging,
        "serviceId": IDS.api,
        "name": "LOG_LEVEL",
        "value": "debug",
    }
    r = rw.call(token, upsert, {"i": given})
    assert r.status_code == 200, r.text
    assert "variableUpsert" in rw.executed()
    # the replica saw the master key, never the capability token
    forwarded = [e for e in rw.seen() if "variableUpsert" in (e["body"] or "")]
    assert forwarded
    assert token not in str(rw.seen())
    assert forwarded[-1]["headers"]
    assert all(
        v == "Bearer [redacted]"
        for k, v in forwarded[-1]["headers"]
        if k.lower() == "authorization"
    )


def test_the_incident_volume_delete_is_refused_because_production_uses_the_volume(
    rw: RailwayStack,
) -> None:
    token = rw.token()
    r = rw.call(
        token, "mutation($v: String!) { volumeDelete(volumeId: $v) }", {"v": IDS.shared_volume}
    )
    assert r.status_code == 403, r.text
    assert code(r) == "environment_not_granted"
    assert f"{IDS.shop}/production" in r.json()["detail"]
    assert "volumeDelete" not in rw.executed()
    # the gateway found production by walking the real shapes: projects -> volumes -> instances
    walked = [e for e in rw.seen() if "volumeInstances" in (e["body"] or "")]
    assert walked
    with rw.replica.state.lock:
        assert IDS.shared_volume in rw.replica.state.tables.volumes


def test_the_incident_in_disguise_is_refused_the_same_way(rw: RailwayStack) -> None:
    doc = (
        "mutation { ...Tidy } fragment Tidy on Mutation "
        f'{{ cleanup: volumeDelete(volumeId: "{IDS.shared_volume}") }}'
    )
    r = rw.call(rw.token(), doc)
    assert code(r) == "environment_not_granted"
    assert "volumeDelete" not in rw.executed()


def test_another_projects_staging_is_not_this_tokens_staging(rw: RailwayStack) -> None:
    given = {
        "projectId": IDS.blog,
        "environmentId": IDS.blog_staging,
        "serviceId": IDS.web,
        "name": "LOG_LEVEL",
        "value": "debug",
    }
    r = rw.call(
        rw.token(), "mutation($i: VariableUpsertInput!) { variableUpsert(input: $i) }", {"i": given}
    )
    assert r.status_code == 403, r.text
    assert code(r) == "environment_not_granted"
    assert f"{IDS.blog}/staging" in r.json()["detail"]
    assert "variableUpsert" not in rw.executed()


def test_secrets_below_a_harmless_root_are_checked_too(rw: RailwayStack) -> None:
    token = rw.token()
    every = (
        "query($id: String!) { project(id: $id) { environments { edges { node {"
        " name variables } } } } }"
    )
    r = rw.call(token, every, {"id": IDS.shop})
    assert r.status_code == 403, r.text
    assert code(r) == "environment_unresolved"
    production = "query($id: String!) { environment(id: $id) { config(decryptVariables: true) } }"
    r = rw.call(token, production, {"id": IDS.shop_production})
    assert code(r) == "environment_not_granted"
    # neither reached the replica (the gateway's own look-ups of the ids did)
    queries = [json.loads(e["body"])["query"] for e in rw.seen() if e["body"]]
    assert queries  # the id look-ups
    assert not [q for q in queries if "variables }" in q or "decryptVariables" in q]


def test_a_backup_named_with_another_instance_is_refused_before_anything_else(
    rw: RailwayStack,
) -> None:
    restore = (
        "mutation($b: String!, $i: String!) { volumeInstanceBackupRestore("
        "volumeInstanceBackupId: $b, volumeInstanceId: $i) }"
    )
    r = rw.call(rw.token(), restore, {"b": IDS.production_backup, "i": IDS.staging_instance})
    assert r.status_code == 403, r.text
    assert code(r) == "relation_unproven"
    assert "volumeInstanceBackupRestore" not in rw.executed()


def test_an_agents_own_project_token_never_reaches_the_provider(rw: RailwayStack) -> None:
    r = rw.call(
        rw.token(),
        "query($id: String!) { project(id: $id) { name } }",
        {"id": IDS.shop},
        **{"Project-Access-Token": "agent-held-token"},
    )
    assert r.status_code == 200, r.text
    names = {k.lower() for e in rw.seen() for k, _ in e["headers"]}
    assert "project-access-token" not in names
    assert "agent-held-token" not in str(rw.seen())
