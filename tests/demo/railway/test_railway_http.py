"""The replica's HTTP surface: its request log, admin endpoints, bodies it refuses, delay."""

from __future__ import annotations

import time

import httpx

from broker.demo.railway import IDS, serve_replica

from .railway_support import Replica, make_tokens

DELETE_VOLUME = "mutation Wipe($v: String!) { volumeDelete(volumeId: $v) }"


def test_the_log_holds_what_reached_the_replica_with_credentials_redacted(
    replica: Replica,
) -> None:
    replica.gql(DELETE_VOLUME, {"v": IDS.shared_volume}, headers={
        **replica.bearer(replica.master_key),
        "X-Capbroker-Dry-Run": "1",
    })  # fmt: skip
    replica.gql("{ projectToken { id } }", headers=replica.project(replica.project_token))
    careless = f'{{ project(id: "{replica.master_key}") {{ id }} }}'  # a key in the body
    replica.gql(careless, headers={"Authorization": f"Bearer {replica.workspace_token}"})
    first, second, third = replica.requests()
    assert (first["method"], first["path"], first["status"], first["auth"]) == (
        "POST",
        "/graphql/v2",
        200,
        "ok",
    )
    headers = dict(first["headers"])
    assert headers["authorization"] == "Bearer [redacted]"
    assert headers["x-capbroker-dry-run"] == "1"  # so a gateway test can see it got through
    assert first["body"] == (
        '{"query":"' + DELETE_VOLUME + '","variables":{"v":"' + IDS.shared_volume + '"}}'
    )
    assert first["operations"] == [
        {"type": "mutation", "name": "Wipe", "root_fields": ["volumeDelete"], "executed": True}
    ]
    assert dict(second["headers"])["project-access-token"] == "[redacted]"
    assert "[redacted]" in third["body"]
    raw = replica.http.get("/_demo/requests", headers=replica.bearer(replica.admin_token)).text
    for secret in (replica.master_key, replica.admin_token, replica.workspace_token):
        assert secret not in raw
    assert replica.project_token not in raw


def test_bodies_the_replica_cannot_run_are_refused_and_logged(replica: Replica) -> None:
    auth = replica.bearer(replica.master_key)
    cases = [
        b"not json",
        b'[{"query": "{ me { id } }"}]',  # batches are not supported
        b'{"variables": {}}',
        b'{"query": "{ me { id } }", "variables": [1]}',
        b'{"query": "{ me { id "}',
    ]
    for body in cases:
        response = replica.http.post("/graphql/v2", content=body, headers=auth)
        assert response.status_code == 400, body
        assert response.json()["errors"], body
    assert [e["status"] for e in replica.requests()] == [400] * len(cases)


def test_other_paths_and_methods_are_logged_and_refused(replica: Replica) -> None:
    assert replica.http.post("/graphql", json={"query": "{ me { id } }"}).status_code == 404
    assert replica.http.get("/graphql/v2").status_code == 405
    assert [(e["method"], e["path"], e["status"]) for e in replica.requests()] == [
        ("POST", "/graphql", 404),
        ("GET", "/graphql/v2", 405),
    ]


def test_admin_endpoints_need_the_admin_token(replica: Replica) -> None:
    replica.gql(DELETE_VOLUME, {"v": IDS.shared_volume})
    wrong = replica.bearer(replica.master_key)
    assert replica.http.get("/_demo/requests", headers=wrong).status_code == 401
    assert replica.http.post("/_demo/reset", headers=wrong).status_code == 401
    assert IDS.shared_volume not in replica.server.state.tables.volumes
    reset = replica.http.post("/_demo/reset", headers=replica.bearer(replica.admin_token))
    assert reset.json() == {"reset": True}
    assert IDS.shared_volume in replica.server.state.tables.volumes
    assert replica.requests() == []
    assert replica.http.get("/healthz").json() == {"status": "ok"}


def test_a_delay_holds_answers_back_without_blocking_other_requests() -> None:
    tokens = make_tokens()
    with serve_replica(tokens["master_key"], tokens["admin_token"], delay_s=0.2) as server:
        auth = {"Authorization": f"Bearer {tokens['master_key']}"}
        body = {"query": "{ me { id } }"}
        with httpx.Client(timeout=5) as http:
            started = time.monotonic()
            assert http.post(server.graphql_url, json=body, headers=auth).status_code == 200
            assert time.monotonic() - started >= 0.2
            assert http.get(f"{server.url}/healthz").status_code == 200
        assert server.ids == IDS
