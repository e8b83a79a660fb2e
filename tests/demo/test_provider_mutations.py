"""Every mutation over a real socket, above all the incident's ``volumeDelete``."""

from __future__ import annotations

from typing import Any

import pytest

from broker.demo.provider.records import iso_time

from .provider_support import Provider

VOLUME_IN_ENVS = """query { volumes(projectId: "proj-acme") { id environments { id } } }"""


def volumes_by_environment(provider: Provider) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {"env-staging": set(), "env-production": set()}
    for volume in provider.data(VOLUME_IN_ENVS)["volumes"]:
        for env in volume["environments"]:
            seen[env["id"]].add(volume["id"])
    return seen


def test_volume_delete_removes_the_shared_volume_everywhere_with_its_backups(
    provider: Provider,
) -> None:
    assert volumes_by_environment(provider) == {
        "env-staging": {"vol-pg", "vol-cache"},
        "env-production": {"vol-pg"},
    }
    # The incident's call: one request, no confirmation.
    body = provider.gql('mutation { volumeDelete(volumeId: "vol-pg") }')
    assert body == {"data": {"volumeDelete": True}}

    assert volumes_by_environment(provider) == {
        "env-staging": {"vol-cache"},
        "env-production": set(),
    }
    gone = provider.gql('{ volume(id: "vol-pg") { id } }')
    assert gone["data"] == {"volume": None}
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    backups = provider.gql('{ volumeBackups(volumeId: "vol-pg") { id } }')
    assert backups["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for backup_id in ("bkp-pg-1", "bkp-pg-2"):
        restore = provider.gql(f'mutation {{ volumeBackupRestore(backupId: "{backup_id}") }}')
        assert restore["data"] is None
        assert "not found" in restore["errors"][0]["message"]
    # The unshared volume is untouched.
    assert provider.data('{ volume(id: "vol-cache") { name } }') == {"volume": {"name": "cache"}}
    # Deleting again is an error, not a silent success.
    again = provider.gql('mutation { volumeDelete(volumeId: "vol-pg") }')
    assert again["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_deployment_redeploy_creates_a_success_deployment(provider: Provider) -> None:
    provider.clock.advance(60)
    data = provider.data(
        'mutation { deploymentRedeploy(environmentId: "env-staging", serviceId: "svc-api")'
        " { id serviceId environmentId status createdAt } }"
    )
    new = data["deploymentRedeploy"]
    assert new["status"] == "SUCCESS"
    assert (new["serviceId"], new["environmentId"]) == ("svc-api", "env-staging")
    assert new["createdAt"] == iso_time(provider.clock())
    listed = provider.data(
        '{ deployments(environmentId: "env-staging", serviceId: "svc-api") { id status } }'
    )["deployments"]
    assert listed == [
        {"id": "dep-api-staging", "status": "REMOVED"},
        {"id": new["id"], "status": "SUCCESS"},
    ]
    # Production is not touched by a staging redeploy.
    prod = provider.data('{ deployments(environmentId: "env-production") { id status } }')
    assert {d["status"] for d in prod["deployments"]} == {"SUCCESS"}


def test_deployment_rollback(provider: Provider) -> None:
    data = provider.data(
        'mutation { deploymentRollback(id: "dep-web-production")'
        " { id serviceId environmentId status } }"
    )
    rolled = data["deploymentRollback"]
    assert rolled["id"] != "dep-web-production"
    assert (rolled["serviceId"], rolled["environmentId"], rolled["status"]) == (
        "svc-web",
        "env-production",
        "SUCCESS",
    )
    unknown = provider.gql('mutation { deploymentRollback(id: "dep-nope") { id } }')
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def variables(provider: Provider, env: str, svc: str) -> dict[str, str]:
    query = "query($e: ID!, $s: ID!) { variables(environmentId: $e, serviceId: $s) { name value } }"
    return {v["name"]: v["value"] for v in provider.data(query, {"e": env, "s": svc})["variables"]}


def test_variable_upsert_and_delete(provider: Provider) -> None:
    upsert = (
        "mutation($e: ID!, $s: ID!, $n: String!, $v: String!) {"
        " variableUpsert(environmentId: $e, serviceId: $s, name: $n, value: $v)"
        " { name value environmentId serviceId } }"
    )
    args: dict[str, Any] = {"e": "env-staging", "s": "svc-web", "n": "FEATURE", "v": "on"}
    assert provider.data(upsert, args)["variableUpsert"] == {
        "name": "FEATURE",
        "value": "on",
        "environmentId": "env-staging",
        "serviceId": "svc-web",
    }
    provider.data(upsert, {**args, "v": "off"})
    assert variables(provider, "env-staging", "svc-web")["FEATURE"] == "off"
    assert "FEATURE" not in variables(provider, "env-production", "svc-web")

    delete = (
        "mutation($e: ID!, $s: ID!, $n: String!) {"
        " variableDelete(environmentId: $e, serviceId: $s, name: $n) }"
    )
    gone = {"e": "env-staging", "s": "svc-web", "n": "FEATURE"}
    assert provider.data(delete, gone) == {"variableDelete": True}
    assert "FEATURE" not in variables(provider, "env-staging", "svc-web")
    again = provider.gql(delete, gone)
    assert again["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    bad_env = provider.gql(upsert, {**args, "e": "env-nope"})
    assert bad_env["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_volume_backup_create_delete_restore(provider: Provider) -> None:
    created = provider.data(
        'mutation { volumeBackupCreate(volumeId: "vol-cache")'
        " { id volumeId environmentId createdAt } }"
    )["volumeBackupCreate"]
    assert created["volumeId"] == "vol-cache"
    assert created["environmentId"] == "env-staging"
    assert created["createdAt"] == iso_time(provider.clock())
    listed = provider.data('{ volumeBackups(volumeId: "vol-cache") { id } }')["volumeBackups"]
    assert listed == [{"id": created["id"]}]

    restore = f'mutation {{ volumeBackupRestore(backupId: "{created["id"]}") }}'
    assert provider.data(restore) == {"volumeBackupRestore": True}
    delete = f'mutation {{ volumeBackupDelete(backupId: "{created["id"]}") }}'
    assert provider.data(delete) == {"volumeBackupDelete": True}
    assert provider.data('{ volumeBackups(volumeId: "vol-cache") { id } }') == {"volumeBackups": []}
    again = provider.gql(delete)
    assert again["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "mutation",
    [
        'volumeDelete(volumeId: "vol-nope")',
        'volumeBackupCreate(volumeId: "vol-nope") { id }',
        'volumeBackupDelete(backupId: "bkp-nope")',
        'volumeBackupRestore(backupId: "bkp-nope")',
        'deploymentRedeploy(environmentId: "env-nope", serviceId: "svc-api") { id }',
    ],
)
def test_unknown_ids_in_mutations_change_nothing(provider: Provider, mutation: str) -> None:
    before = provider.data("{ projects { volumes { id backups { id } } } }")
    body = provider.gql(f"mutation {{ {mutation} }}")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert provider.data("{ projects { volumes { id backups { id } } } }") == before
