"""Loading route maps: shipped maps load; every kind of mistake is reported with its field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from broker.manifests import ManifestError
from broker.routemap import load_route_map, parse_route_map, shipped_map

BASE: dict[str, Any] = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "RouteMap",
    "metadata": {"name": "t"},
    "spec": {
        "provider": "t",
        "upstream": "http://127.0.0.1:9",
        "auth": {"header": "Authorization", "format": "Bearer {key}"},
        "actions": {"repo:read": {"effect": "read"}, "repo:delete": {"effect": "destructive"}},
        "lookups": {"envs": {"get": "/envs/{id}", "result": "names[*]"}},
        "rest": [
            {
                "method": "GET",
                "path": "/repos/{o}/{r}",
                "action": "repo:read",
                "resources": ["repo:{o}/{r}"],
                "environment": {"unscoped": True},
            },
        ],
    },
}


def doc(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    d["spec"].update(changes)
    return d


def problems(d: object) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as caught:
        parse_route_map(d, "maps/t.yaml#1")
    assert all(p.source == "maps/t.yaml#1" for p in caught.value.problems)
    return [(p.path, p.message) for p in caught.value.problems]


def rule(**kw: Any) -> dict[str, Any]:
    base = {"method": "GET", "path": "/x", "action": "repo:read", "environment": {"unscoped": True}}
    return {**base, **kw}


def test_shipped_maps_load() -> None:
    demo = shipped_map("railway-demo")
    assert demo.graphql is not None
    assert set(demo.graphql.fields["query"]) >= {
        "projects",
        "project",
        "environments",
        "environment",
        "services",
        "deployments",
        "variables",
        "volume",
        "volumes",
        "volumeBackups",
    }
    assert set(demo.graphql.fields["mutation"]) == {
        "deploymentRedeploy",
        "deploymentRollback",
        "variableUpsert",
        "variableDelete",
        "volumeDelete",
        "volumeBackupCreate",
        "volumeBackupDelete",
        "volumeBackupRestore",
    }
    gh = shipped_map("github")
    assert len(gh.rest) > 600  # every operation of GitHub's description (test_github_map)
    assert gh.graphql is not None


def test_base_document_is_valid() -> None:
    assert parse_route_map(BASE, "x").rest[0].label == "GET /repos/{o}/{r}"


def test_load_from_file(tmp_path: Path) -> None:
    import yaml

    f = tmp_path / "t.yaml"
    f.write_text(yaml.safe_dump(BASE))
    assert load_route_map(f).provider == "t"
    f.write_text(yaml.safe_dump(BASE) + "---\n" + yaml.safe_dump(BASE))
    with pytest.raises(ManifestError):
        load_route_map(f)


def test_schema_problems_have_field_paths() -> None:
    d = doc(rest=[rule(method="TRACE", extra=1)])
    found = problems(d)
    assert ("spec.rest[0].extra", "unknown field") in found
    assert any(p == "spec.rest[0].method" for p, _ in found)


def test_wrong_kind() -> None:
    d = doc()
    d["kind"] = "CapabilityTemplate"
    assert problems(d)[0][0] == "kind"


def test_undeclared_action() -> None:
    assert problems(doc(rest=[rule(action="repo:write")])) == [
        ("spec.rest[0].action", "'repo:write' is not declared in spec.actions")
    ]


def test_unknown_template_parameter() -> None:
    found = problems(doc(rest=[rule(path="/r/{o}", resources=["repo:{owner}"])]))
    assert found[0][0] == "spec.rest[0].resources[0]"


def test_unknown_lookup_and_wrong_bindings() -> None:
    found = problems(
        doc(
            rest=[
                rule(path="/a/{id}", environment={"lookup": "nope"}),
                rule(path="/b/{id}", environment={"lookup": "envs", "with": {"x": "{id}"}}),
            ]
        )
    )
    assert [p for p, _ in found] == [
        "spec.rest[0].environment.lookup",
        "spec.rest[1].environment.with",
    ]


def test_environment_id_needs_environment_ids() -> None:
    found = problems(doc(rest=[rule(path="/a/{id}", environment={"environment_id": "{id}"})]))
    assert found[0][0] == "spec.rest[0].environment"


def test_bad_path_template() -> None:
    assert problems(doc(rest=[rule(path="/a//b")]))[0][0] == "spec.rest[0].path"


def test_overlapping_rules_are_refused() -> None:
    found = problems(doc(rest=[rule(path="/repos/{o}/{r}"), rule(path="/repos/acme/{r}")]))
    assert found == [
        (
            "spec.rest[1].path",
            "overlaps spec.rest[0] (GET /repos/{o}/{r}): some request matches both",
        )
    ]


def test_rule_overlapping_the_graphql_endpoint() -> None:
    d = doc(
        rest=[rule(method="POST", path="/{anything}")],
        graphql={"endpoint": "/graphql", "operations": {}},
    )
    assert "GraphQL endpoint" in problems(d)[0][1]


def test_unscoped_cannot_be_combined() -> None:
    found = problems(doc(rest=[rule(environment=[{"unscoped": True}, {"fixed": ["staging"]}])]))
    assert found[0][0] == "spec.rest[0].environment"


def test_graphql_templates_use_args() -> None:
    d = doc(
        graphql={
            "endpoint": "/graphql",
            "operations": {
                "query": {
                    "x": {
                        "action": "repo:read",
                        "resources": ["r:{id}"],
                        "environment": {"unscoped": True},
                    }
                }
            },
        }
    )
    assert problems(d)[0][0] == "spec.graphql.operations.query.x.resources[0]"


def test_bad_result_path_and_yields_without_environment_ids() -> None:
    d = doc(
        lookups={
            "a": {"get": "/a/{id}", "result": "x[?"},
            "b": {"get": "/b/{id}", "result": "x", "yields": "environment_ids"},
        }
    )
    assert [p for p, _ in problems(d)] == ["spec.lookups.a.result", "spec.lookups.b.yields"]


def test_body_templates_not_on_get() -> None:
    assert problems(doc(rest=[rule(resources=["r:{body.x}"])]))[0][0] == "spec.rest[0]"
