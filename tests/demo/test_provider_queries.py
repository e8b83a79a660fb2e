"""Every query of the schema, over a real socket, against the seed."""

from __future__ import annotations

import pytest
from graphql import build_schema, print_schema

from broker.demo.provider import SDL, build_provider_schema

from .provider_support import Provider

SEED_TIME = "2030-03-17T17:46:40Z"


def test_schema_is_exactly_the_sdl() -> None:
    assert print_schema(build_provider_schema()) == print_schema(build_schema(SDL))
    assert "volumeDelete(volumeId: ID!): Boolean!" in print_schema(build_provider_schema())


def test_projects_and_project(provider: Provider) -> None:
    data = provider.data(
        "{ projects { id name environments { id name projectId }"
        " services { id name projectId } volumes { id name } } }"
    )
    [project] = data["projects"]
    assert project == {
        "id": "proj-acme",
        "name": "acme",
        "environments": [
            {"id": "env-staging", "name": "staging", "projectId": "proj-acme"},
            {"id": "env-production", "name": "production", "projectId": "proj-acme"},
        ],
        "services": [
            {"id": "svc-api", "name": "api", "projectId": "proj-acme"},
            {"id": "svc-web", "name": "web", "projectId": "proj-acme"},
        ],
        "volumes": [
            {"id": "vol-pg", "name": "postgres-data"},
            {"id": "vol-cache", "name": "cache"},
        ],
    }
    one = provider.data('{ project(id: "proj-acme") { id name } }')
    assert one == {"project": {"id": "proj-acme", "name": "acme"}}


def test_environments_and_environment(provider: Provider) -> None:
    data = provider.data('{ environments(projectId: "proj-acme") { id name } }')
    assert [e["name"] for e in data["environments"]] == ["staging", "production"]
    one = provider.data('{ environment(id: "env-production") { id name projectId } }')
    assert one["environment"] == {
        "id": "env-production",
        "name": "production",
        "projectId": "proj-acme",
    }


def test_services(provider: Provider) -> None:
    data = provider.data('{ services(projectId: "proj-acme") { id name } }')
    assert data["services"] == [{"id": "svc-api", "name": "api"}, {"id": "svc-web", "name": "web"}]


def test_deployments_one_per_service_per_environment(provider: Provider) -> None:
    query = "query($e: ID!, $s: ID) { deployments(environmentId: $e, serviceId: $s) {"
    query += " id serviceId environmentId status createdAt } }"
    for env in ("env-staging", "env-production"):
        deps = provider.data(query, {"e": env})["deployments"]
        assert sorted(d["serviceId"] for d in deps) == ["svc-api", "svc-web"]
        assert {d["environmentId"] for d in deps} == {env}
        assert {d["status"] for d in deps} == {"SUCCESS"}
        assert {d["createdAt"] for d in deps} == {SEED_TIME}
    only_api = provider.data(query, {"e": "env-staging", "s": "svc-api"})["deployments"]
    assert [d["id"] for d in only_api] == ["dep-api-staging"]


def test_variables_per_environment(provider: Provider) -> None:
    query = "query($e: ID!, $s: ID!) { variables(environmentId: $e, serviceId: $s) {"
    query += " name value environmentId serviceId } }"
    staging = provider.data(query, {"e": "env-staging", "s": "svc-api"})["variables"]
    production = provider.data(query, {"e": "env-production", "s": "svc-api"})["variables"]
    assert {v["name"] for v in staging} >= {"DATABASE_URL"}
    assert {v["name"] for v in production} >= {"DATABASE_URL"}
    by_name = {v["name"]: v for v in staging}
    assert by_name["DATABASE_URL"]["environmentId"] == "env-staging"
    assert by_name["DATABASE_URL"]["serviceId"] == "svc-api"
    staging_url = by_name["DATABASE_URL"]["value"]
    production_url = {v["name"]: v["value"] for v in production}["DATABASE_URL"]
    assert staging_url != production_url
    assert "fake" in staging_url
    assert "fake" in production_url


def test_the_shared_volume_is_attached_to_both_environments(provider: Provider) -> None:
    data = provider.data(
        '{ volume(id: "vol-pg") { id name projectId environments { id name }'
        " backups { id volumeId environmentId createdAt } } }"
    )
    volume = data["volume"]
    assert volume["name"] == "postgres-data"
    assert volume["projectId"] == "proj-acme"
    assert [e["name"] for e in volume["environments"]] == ["staging", "production"]
    assert volume["backups"] == [
        {
            "id": "bkp-pg-1",
            "volumeId": "vol-pg",
            "environmentId": "env-production",
            "createdAt": SEED_TIME,
        },
        {
            "id": "bkp-pg-2",
            "volumeId": "vol-pg",
            "environmentId": "env-staging",
            "createdAt": SEED_TIME,
        },
    ]
    cache = provider.data('{ volume(id: "vol-cache") { environments { id } backups { id } } }')
    assert cache["volume"] == {"environments": [{"id": "env-staging"}], "backups": []}


def test_volumes_and_volume_backups(provider: Provider) -> None:
    volumes = provider.data('{ volumes(projectId: "proj-acme") { id } }')["volumes"]
    assert [v["id"] for v in volumes] == ["vol-pg", "vol-cache"]
    backups = provider.data('{ volumeBackups(volumeId: "vol-pg") { id } }')["volumeBackups"]
    assert [b["id"] for b in backups] == ["bkp-pg-1", "bkp-pg-2"]


@pytest.mark.parametrize(
    ("query", "field", "missing"),
    [
        ('{ project(id: "proj-nope") { id } }', "project", "proj-nope"),
        ('{ environments(projectId: "proj-nope") { id } }', "environments", "proj-nope"),
        ('{ environment(id: "env-nope") { id } }', "environment", "env-nope"),
        ('{ services(projectId: "proj-nope") { id } }', "services", "proj-nope"),
        ('{ deployments(environmentId: "env-nope") { id } }', "deployments", "env-nope"),
        (
            '{ deployments(environmentId: "env-staging", serviceId: "svc-nope") { id } }',
            "deployments",
            "svc-nope",
        ),
        (
            '{ variables(environmentId: "env-staging", serviceId: "svc-nope") { name } }',
            "variables",
            "svc-nope",
        ),
        ('{ volume(id: "vol-nope") { id } }', "volume", "vol-nope"),
        ('{ volumes(projectId: "proj-nope") { id } }', "volumes", "proj-nope"),
        ('{ volumeBackups(volumeId: "vol-nope") { id } }', "volumeBackups", "vol-nope"),
    ],
)
def test_unknown_ids_are_graphql_errors(
    provider: Provider, query: str, field: str, missing: str
) -> None:
    body = provider.gql(query)  # HTTP 200
    [error] = body["errors"]
    assert error["path"] == [field]
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert missing in error["message"]


def test_aliases_fragments_and_typename(provider: Provider) -> None:
    data = provider.data(
        'query Both { stg: environment(id: "env-staging") { ...E }'
        ' prod: environment(id: "env-production") { ...E } __typename }'
        " fragment E on Environment { name __typename }"
    )
    assert data == {
        "stg": {"name": "staging", "__typename": "Environment"},
        "prod": {"name": "production", "__typename": "Environment"},
        "__typename": "Query",
    }
