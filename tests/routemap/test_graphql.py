"""GraphQL classification on the demo map: examples and the never-fewer-actions property."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.routemap import UNSCOPED, EnvById, EnvLookup, LookupCall
from broker.routemap.gql import nesting_depth

from .support import demo, gql, run


def test_volume_delete_resolves_through_the_volume_lookup() -> None:
    result = gql(demo(), {"query": 'mutation { volumeDelete(volumeId: "vol-pg") }'})
    (call,) = result.calls
    assert call.action == "volume:delete"
    assert call.effect == "destructive"
    assert call.resources == ("volume:vol-pg",)
    assert call.environments == (
        EnvLookup(LookupCall("volumeEnvironments", (("volumeId", "vol-pg"),))),
    )
    assert result.effect == "destructive"


def test_environment_id_argument_maps_through_the_environment_lookup() -> None:
    q = (
        "mutation($e: ID!) "
        '{ variableUpsert(environmentId: $e, serviceId: "svc", name: "A", value: "1") }'
    )
    (call,) = gql(demo(), {"query": q, "variables": {"e": "env-staging"}}).calls
    assert call.action == "variable:write"
    assert call.resources == ("variable:svc/A",)
    assert call.environments == (
        EnvById("env-staging", LookupCall("environmentName", (("id", "env-staging"),))),
    )


def test_variable_default_is_used() -> None:
    q = 'query($v: ID = "vol-a") { volume(id: $v) { id } }'
    (call,) = gql(demo(), {"query": q}).calls
    assert call.resources == ("volume:vol-a",)


def test_backup_delete_needs_backup_and_volume_environments() -> None:
    (call,) = gql(demo(), {"query": 'mutation { volumeBackupDelete(backupId: "b1") }'}).calls
    assert call.environments == (
        EnvLookup(
            LookupCall("backupEnvironment", (("backupId", "b1"),)), ids_via="environmentName"
        ),
        EnvLookup(LookupCall("backupVolumeEnvironments", (("backupId", "b1"),))),
    )


def test_listings_are_unscoped_and_typename_is_ignored() -> None:
    result = gql(demo(), {"query": "{ __typename projects { id } }"})
    assert [f.field for f in result.fields] == ["projects"]
    assert result.calls[0].unscoped
    assert result.calls[0].environments == (UNSCOPED,)


def test_query_over_get() -> None:
    q = quote("query Q($id: ID!) { project(id: $id) { name } }", safe="")
    v = quote('{"id": "p1"}', safe="")
    result = run(demo(), "GET", "/graphql", query=f"query={q}&variables={v}&operationName=Q")
    assert result.calls[0].resources == ("project:p1",)


def test_every_operation_is_classified_not_just_the_selected_one() -> None:
    q = 'query A { projects { id } } mutation B { deploymentRollback(id: "d1") }'
    result = gql(demo(), {"query": q, "operationName": "A"})
    assert [(f.operation, f.field, f.operation_name) for f in result.fields] == [
        ("query", "projects", "A"),
        ("mutation", "deploymentRollback", "B"),
    ]


def test_nesting_depth_ignores_strings_and_comments() -> None:
    assert nesting_depth('{ a(x: "{{{{") # {{{{\n }') == 2
    assert nesting_depth('{ a(x: """ {{{ \\""" {{ """) }') == 2


# --- property: the classifier never returns fewer actions than the root fields carry -----

DEMO_FIELDS = {
    "query": {
        "projects": "",
        "project": '(id: "p")',
        "environments": '(projectId: "p")',
        "environment": '(id: "e")',
        "services": '(projectId: "p")',
        "deployments": '(environmentId: "env-staging")',
        "variables": '(environmentId: "env-staging", serviceId: "s")',
        "volume": '(id: "v")',
        "volumes": '(projectId: "p")',
        "volumeBackups": '(volumeId: "v")',
    },
    "mutation": {
        "deploymentRedeploy": '(environmentId: "e", serviceId: "s")',
        "deploymentRollback": '(id: "d")',
        "variableUpsert": '(environmentId: "e", serviceId: "s", name: "n", value: "v")',
        "variableDelete": '(environmentId: "e", serviceId: "s", name: "n")',
        "volumeDelete": '(volumeId: "v")',
        "volumeBackupCreate": '(volumeId: "v")',
        "volumeBackupDelete": '(backupId: "b")',
        "volumeBackupRestore": '(backupId: "b")',
    },
}
SUBSELECT = {"variableDelete", "volumeDelete", "volumeBackupDelete", "volumeBackupRestore"}


@st.composite
def documents(draw: st.DrawFn) -> tuple[dict[str, str], set[str]]:
    op = draw(st.sampled_from(["query", "mutation"]))
    names = draw(st.lists(st.sampled_from(sorted(DEMO_FIELDS[op])), min_size=1, max_size=6))
    fragments: list[str] = []
    parts: list[str] = []
    for i, name in enumerate(names):
        alias = draw(st.sampled_from(["", f"a{i}: ", "projects: ", "volumeDelete: "]))
        sel = "" if name in SUBSELECT or name.startswith("volumeBackupDel") else " { __typename }"
        field = f"{alias}{name}{DEMO_FIELDS[op][name]}{sel}"
        how = draw(st.sampled_from(["plain", "inline", "typed", "fragment", "nested"]))
        root = "Query" if op == "query" else "Mutation"
        if how == "inline":
            field = f"... {{ {field} }}"
        elif how == "typed":
            field = f"... on {root} {{ {field} }}"
        elif how == "fragment":
            fragments.append(f"fragment F{i} on {root} {{ {field} }}")
            field = f"...F{i}"
        elif how == "nested":
            fragments.append(f"fragment G{i} on {root} {{ ... on {root} {{ {field} }} }}")
            fragments.append(f"fragment F{i} on {root} {{ ...G{i} }}")
            field = f"...F{i}"
        parts.append(field)
    doc = f"{op} Op {{ {' '.join(parts)} }} " + " ".join(fragments)
    return {"query": doc, "operationName": "Op"}, set(names)


@settings(max_examples=80, deadline=None)
@given(st.lists(documents(), min_size=1, max_size=3))
def test_actions_equal_the_root_fields_actions(
    batch: list[tuple[dict[str, str], set[str]]],
) -> None:
    spec = demo().graphql
    assert spec is not None
    expected = {
        spec.fields[op][name].action
        for payload, names in batch
        for name in names
        for op in ("query", "mutation")
        if name in spec.fields.get(op, {})
    }
    payload: object = [p for p, _ in batch] if len(batch) > 1 else batch[0][0]
    result = gql(demo(), payload)
    assert result.actions == expected
    assert sum(len(n) for _, n in batch) <= len(result.fields)
