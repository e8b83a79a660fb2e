"""The HTTP surface over a real socket: auth, GET, batching, the request log, reset."""

from __future__ import annotations

import json

import httpx
import pytest

from broker.clock import FrozenClock
from broker.demo.provider import ServerThread, create_provider_app

from .provider_support import NOW, Provider, make_keys

DELETE_PG = 'mutation Wipe { volumeDelete(volumeId: "vol-pg") }'


def pg_exists(provider: Provider) -> bool:
    return bool(provider.gql('{ volume(id: "vol-pg") { id } }')["data"]["volume"])


def test_healthz_needs_no_key(provider: Provider) -> None:
    response = provider.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert provider.requests() == []  # health checks are not logged


@pytest.mark.parametrize(
    ("header", "auth"),
    [
        (None, "missing"),
        ("Bearer wrong-key", "invalid"),
        ("Basic d3Jvbmc6a2V5", "invalid"),
        ("Bearer", "invalid"),
        ("", "missing"),
    ],
)
def test_wrong_or_missing_key_is_refused_and_nothing_runs(
    provider: Provider, header: str | None, auth: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = provider.http.post("/graphql", json={"query": DELETE_PG}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {
        "errors": [{"message": "Not Authorized", "extensions": {"code": "UNAUTHENTICATED"}}]
    }
    assert pg_exists(provider)
    [refused, _check] = provider.requests()
    assert refused["auth"] == auth
    assert refused["status"] == 401
    assert refused["operations"] == [
        {"type": "mutation", "name": "Wipe", "root_fields": ["volumeDelete"], "executed": False}
    ]


def test_admin_token_is_not_the_master_key_and_vice_versa(provider: Provider) -> None:
    as_admin = provider.http.post(
        "/graphql", json={"query": "{ projects { id } }"}, headers=provider.admin()
    )
    assert as_admin.status_code == 401
    for path, method in (("/_demo/requests", "GET"), ("/_demo/reset", "POST")):
        for headers in ({}, provider.auth(), {"Authorization": "Bearer nope"}):
            response = provider.http.request(method, path, headers=headers)
            assert response.status_code == 401, (path, headers.keys())


def test_get_query_works_and_get_mutation_is_refused(provider: Provider) -> None:
    ok = provider.http.get(
        "/graphql",
        params={
            "query": "query One($id: ID!) { environment(id: $id) { name } }",
            "variables": json.dumps({"id": "env-production"}),
            "operationName": "One",
        },
        headers=provider.auth(),
    )
    assert ok.status_code == 200
    assert ok.json() == {"data": {"environment": {"name": "production"}}}

    refused = provider.http.get("/graphql", params={"query": DELETE_PG}, headers=provider.auth())
    assert refused.status_code == 405
    assert refused.headers["allow"] == "POST"
    assert "errors" in refused.json()
    assert pg_exists(provider)

    # A mutation hidden next to a query: the selected operation decides.
    both = DELETE_PG + " query Read { projects { id } }"
    chosen = provider.http.get(
        "/graphql", params={"query": both, "operationName": "Wipe"}, headers=provider.auth()
    )
    assert chosen.status_code == 405
    read = provider.http.get(
        "/graphql", params={"query": both, "operationName": "Read"}, headers=provider.auth()
    )
    assert read.status_code == 200
    assert pg_exists(provider)
    no_key = provider.http.get("/graphql", params={"query": "{ projects { id } }"})
    assert no_key.status_code == 401


def test_batched_array(provider: Provider) -> None:
    batch = [
        {"query": '{ volume(id: "vol-pg") { id } }'},
        {"query": DELETE_PG, "operationName": "Wipe"},
        {"query": '{ volume(id: "vol-pg") { id } }'},
        {"query": "{ nope }"},
    ]
    response = provider.http.post("/graphql", json=batch, headers=provider.auth())
    assert response.status_code == 200
    first, deleted, after, invalid = response.json()
    assert first == {"data": {"volume": {"id": "vol-pg"}}}
    assert deleted == {"data": {"volumeDelete": True}}
    assert after["data"] == {"volume": None}
    assert "errors" in invalid
    [entry] = provider.requests()
    assert entry["batch_size"] == 4
    assert [(op["root_fields"], op["executed"]) for op in entry["operations"]] == [
        (["volume"], True),
        (["volumeDelete"], True),
        (["volume"], True),
        (["nope"], False),
    ]


def test_a_batch_without_the_key_runs_nothing(provider: Provider) -> None:
    batch = [{"query": DELETE_PG}, {"query": '{ project(id: "proj-acme") { id } }'}]
    response = provider.http.post("/graphql", json=batch)
    assert response.status_code == 401
    assert pg_exists(provider)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "at least one"),
        (b'"a string"', "JSON object"),
        (b'{"variables": {}}', "query string"),
        (b'{"query": "{ projects { id }", "variables": null}', "Syntax Error"),
        (b'{"query": "{ projects { nope } }"}', "Cannot query field"),
        (b'{"query": "query A { projects { id } } query B { projects { id } }"}', "operation"),
        (b'{"query": "query A { projects { id } }", "operationName": "Z"}', "Unknown operation"),
        (b'{"query": "{ projects { id } }", "variables": [1]}', "variables"),
    ],
)
def test_bad_requests_are_400(provider: Provider, body: bytes, fragment: str) -> None:
    response = provider.http.post(
        "/graphql",
        content=body,
        headers={**provider.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert fragment in response.json()["errors"][0]["message"]


def test_bad_variable_value_executes_nothing(provider: Provider) -> None:
    body = provider.gql("mutation($v: ID!) { volumeDelete(volumeId: $v) }", {"v": None})
    assert body["data"] is None
    assert pg_exists(provider)
    assert provider.requests()[0]["operations"][0]["executed"] is False


def test_unknown_paths_and_methods_are_logged(provider: Provider) -> None:
    assert provider.http.get("/v2/graphql", headers=provider.auth()).status_code == 404
    assert provider.http.delete("/graphql", headers=provider.auth()).status_code == 405
    logged = [(e["method"], e["path"], e["status"], e["auth"]) for e in provider.requests()]
    assert logged == [("GET", "/v2/graphql", 404, "ok"), ("DELETE", "/graphql", 405, "ok")]


def test_request_log_records_operations_and_never_the_key(provider: Provider) -> None:
    provider.clock.advance(5)
    provider.gql(
        'query Look { a: volumes(projectId: "proj-acme") { id } ...More }'
        " fragment More on Query { projects { id } }"
    )
    provider.http.post(
        "/graphql",
        json={"query": DELETE_PG},
        headers={"Authorization": f"Bearer {provider.master_key}x"},
    )
    # A careless client putting the key in the path is scrubbed, too.
    provider.http.get(f"/{provider.master_key}", headers=provider.auth())
    entries = provider.requests()
    raw = provider.http.get("/_demo/requests", headers=provider.admin()).text
    assert provider.master_key not in raw
    assert provider.admin_token not in raw
    assert "authorization" not in raw.lower()
    assert repr(provider.log).find(provider.master_key) == -1
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["at"] == NOW + 5
    assert entries[0]["operations"] == [
        {"type": "query", "name": "Look", "root_fields": ["volumes", "projects"], "executed": True}
    ]
    assert (entries[1]["auth"], entries[1]["status"]) == ("invalid", 401)
    assert entries[2]["path"] == "/[redacted]"


def test_reset_reseeds_and_clears_the_log(provider: Provider) -> None:
    provider.gql(DELETE_PG)
    assert not pg_exists(provider)
    response = provider.http.post("/_demo/reset", headers=provider.admin())
    assert response.status_code == 200
    assert response.json() == {"reset": True}
    assert provider.requests() == []
    assert pg_exists(provider)
    backups = provider.data('{ volumeBackups(volumeId: "vol-pg") { id } }')
    assert backups == {"volumeBackups": [{"id": "bkp-pg-1"}, {"id": "bkp-pg-2"}]}


def test_echo_auth_header_flag_is_off_by_default_and_echoes_when_on() -> None:
    master_key, admin_token = make_keys()
    sent = f"Bearer other-{master_key}"
    app = create_provider_app(
        master_key, admin_token, clock=FrozenClock(NOW), echo_auth_header_in_errors=True
    )
    with ServerThread(app) as server:
        response = httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ projects { id } }"},
            headers={"Authorization": sent},
            timeout=5,
        )
        log = httpx.get(
            f"{server.url}/_demo/requests",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=5,
        ).text
    assert response.status_code == 401
    [error] = response.json()["errors"]
    assert sent in error["message"]
    assert error["extensions"]["receivedAuthorization"] == sent
    assert "other-" not in log  # echoed to the caller, never logged


def test_echo_is_off_by_default(provider: Provider) -> None:
    sent = "Bearer some-upstream-key"
    response = provider.http.post(
        "/graphql", json={"query": "{ projects { id } }"}, headers={"Authorization": sent}
    )
    assert response.status_code == 401
    assert "some-upstream-key" not in response.text


def test_constructor_refuses_unsafe_keys() -> None:
    with pytest.raises(ValueError, match="differ") as same:
        create_provider_app("same-secret-value", "same-secret-value")
    assert "same-secret-value" not in str(same.value)
    with pytest.raises(ValueError, match="non-empty"):
        create_provider_app("", "admin")
    master_key, admin_token = make_keys()
    app = create_provider_app(master_key, admin_token, clock=FrozenClock(NOW))
    service = app.state.provider
    for text in (repr(service), repr(service.log), repr(app.state)):
        assert master_key not in text
        assert admin_token not in text


def test_server_binds_loopback_only(provider: Provider) -> None:
    assert provider.url.startswith("http://127.0.0.1:")
