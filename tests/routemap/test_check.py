"""routemap check, GraphQL half: hand-made schemas, the demo provider's own, Railway's real one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.errors import InvalidRequest
from broker.routemap import RouteMap, parse_route_map
from broker.routemap.check import check_route_map, description_kind
from broker.routemap.checkreport import CheckReport, Coverage
from tests.routemap.support import demo
from tests.support.factories import REST_ONLY_MAP
from tests.support.schemas import demo_provider_introspection, introspection, railway_snapshot

SDL = """
type Query { a(id: ID!): Thing  b: [Thing!]! }
type Mutation { m(input: MInput!): Boolean }
input MInput { projectId: String!  name: String }
type Thing { id: ID! environmentId: String! items: [Thing!]! }
"""


def graphql_map(
    query: dict[str, Any], mutation: dict[str, Any] | None = None, **lookups: Any
) -> RouteMap:
    doc = {
        "apiVersion": "capbroker.dev/v1",
        "kind": "RouteMap",
        "metadata": {"name": "tiny"},
        "spec": {
            "provider": "tiny",
            "upstream": "http://127.0.0.1:1",
            "auth": {"header": "Authorization", "format": "Bearer {key}"},
            "actions": {"thing:read": {"effect": "read"}, "thing:write": {"effect": "write"}},
            "lookups": lookups,
            "graphql": {
                "endpoint": "/graphql",
                "operations": {"query": query, "mutation": mutation or {}},
            },
        },
    }
    return parse_route_map(doc, "tiny.yaml")


def read(*resources: str) -> dict[str, Any]:
    return {"action": "thing:read", "resources": list(resources), "environment": {"unscoped": True}}


def subjects(report: CheckReport, which: str = "errors") -> list[str]:
    return [f.subject for f in getattr(report, which)]


def test_unnamed_root_fields_are_gaps_and_unknown_classified_fields_errors() -> None:
    report = check_route_map(graphql_map({"a": read(), "gone": read()}), introspection(SDL))
    assert subjects(report, "gaps") == ["query.b", "mutation.m"]
    assert subjects(report) == ["query.gone"]
    assert "Query has no such field" in report.errors[0].message
    assert [str(c) for c in report.coverage] == [
        "query 1/2",
        "mutation 0/1",
        "subscription 0/0",
        "all 1/3",
    ]
    assert not report.ok


def test_a_map_naming_every_field_of_a_valid_schema_is_ok() -> None:
    write = {**read("p:{args.input.projectId}"), "action": "thing:write"}
    report = check_route_map(
        graphql_map({"a": read("t:{args.id}"), "b": read()}, {"m": write}), introspection(SDL)
    )
    assert report.ok
    assert report.coverage_of("all").named == report.coverage_of("all").total == 3


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("t:{args.nope}", "names no argument of the field (it has id)"),
        ("t:{args.id.deeper}", "goes below ID, which is not an input object"),
    ],
)
def test_argument_references_must_exist(template: str, problem: str) -> None:
    report = check_route_map(graphql_map({"a": read(template), "b": read()}), introspection(SDL))
    assert [(e.subject, e.message.split("} ", 1)[1]) for e in report.errors] == [
        ("query.a", problem)
    ]


def test_input_object_fields_are_followed() -> None:
    write = {**read("p:{args.input.projekt}"), "action": "thing:write"}
    report = check_route_map(
        graphql_map({"a": read(), "b": read()}, {"m": write}), introspection(SDL)
    )
    assert [str(e) for e in report.errors] == [
        "mutation.m: {args.input.projekt} names no field of input MInput"
    ]


FIELDS = [
    ("query", "a"),
    ("query", "b"),
    ("mutation", "m"),
    ("query", "gone1"),
    ("mutation", "gone2"),
]


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(FIELDS)))
def test_every_field_is_named_a_gap_or_an_error(chosen: set[tuple[str, str]]) -> None:
    ops: dict[str, dict[str, Any]] = {"query": {}, "mutation": {}}
    for op, name in chosen:
        ops[op][name] = {**read(), "action": "thing:write" if op == "mutation" else "thing:read"}
    report = check_route_map(graphql_map(ops["query"], ops["mutation"]), introspection(SDL))
    real = {f for f in FIELDS if not f[1].startswith("gone")}
    assert set(subjects(report, "gaps")) == {f"{op}.{n}" for op, n in real - chosen}
    assert set(subjects(report)) == {f"{op}.{n}" for op, n in chosen - real}
    assert report.coverage_of("all") == Coverage("all", len(chosen & real), len(real))
    assert report.ok == (chosen == real)


def lookup(document: str, result: str) -> dict[str, Any]:
    variables = {"id": "{x}"} if "$id" in document else {}
    return {"graphql": document, "variables": variables, "result": result}


@pytest.mark.parametrize(
    ("document", "result", "message"),
    [
        ("query($id: ID!) { a(id: $id) { environmentId } }", "data.a.environmentId", None),
        ("query($id: ID!) { t: a(id: $id) { environmentId } }", "data.t.environmentId", None),
        (
            "query { b { items { id environmentId } } }",
            "data.b[*].items[?id=={x}].environmentId",
            None,
        ),
        ("query($id: ID!) { a(id: $id) { ...F } } fragment F on Thing { id }", "data.a.x", None),
        (
            "query($id: ID!) { volume(id: $id) { name } }",
            "data.volume.name",
            "Cannot query field 'volume' on type 'Query'.",
        ),
        (
            "query($id: String!) { a(id: $id) { id } }",
            "data.a.id",
            "Variable '$id' of type 'String!' used in position expecting type 'ID!'.",
        ),
        ("query($id: ID!) { a(id: $id) { id } }", "data.a.environmentId", "is not selected"),
        ("query($id: ID!) { a(id: $id) { id } }", "data.a", "ends on an object"),
        ("query($id: ID!) { a(id: $id) { id } }", "a.id", "must start at 'data'"),
        ("query($id: ID!) { a(id: $id) { id } }", "data.a.id.more", "goes below a leaf"),
        ("query { b { id } }", "data.b[?environmentId=={x}].id", "which is not selected"),
    ],
)
def test_lookups_are_validated_against_the_schema(
    document: str, result: str, message: str | None
) -> None:
    route_map = graphql_map({"a": read(), "b": read()}, {}, look=lookup(document, result))
    report = check_route_map(route_map, introspection(SDL))
    found = [e for e in report.errors if e.subject == "lookup look"]
    if message is None:
        assert found == []
    else:
        assert len(found) == 1
        assert message in found[0].message


def test_the_demo_map_names_every_field_of_the_demo_providers_own_schema() -> None:
    report = check_route_map(demo(), demo_provider_introspection())
    assert report.errors == ()
    assert report.gaps == ()
    assert [str(c) for c in report.coverage] == [
        "query 11/11",
        "mutation 8/8",
        "subscription 0/0",
        "all 19/19",
    ]
    assert report.ok


def test_the_demo_map_against_railways_real_schema() -> None:
    report = check_route_map(demo(), railway_snapshot())
    assert [str(c) for c in report.coverage] == [
        "query 7/152",
        "mutation 5/230",
        "subscription 0/13",
        "all 12/395",
    ]
    errors = {str(e) for e in report.errors}
    assert "lookup volumeEnvironments: Cannot query field 'volume' on type 'Query'." in errors
    assert "query.volume: classified by the map; Query has no such field" in errors
    assert (
        "mutation.volumeBackupDelete: classified by the map; Mutation has no such field" in errors
    )
    unfit = "{args.environmentId} names no argument of the field (it has input)"
    assert f"mutation.variableUpsert: {unfit}" in errors
    # none of the five lookups is valid against the real schema
    assert {e.subject for e in report.errors if e.group == "lookup"} == {
        f"lookup {name}" for name in demo().lookups
    }
    gaps = set(subjects(report, "gaps"))
    assert {"mutation.volumeInstanceBackupDelete", "mutation.apiTokenCreate"} <= gaps
    assert "mutation.volumeDelete" not in gaps  # named by the demo map and real
    assert len(gaps) == 395 - 12


@pytest.mark.parametrize(
    "document",
    [
        [],
        {},
        {"data": {}},
        {"data": {"__schema": "x"}},
        {"paths": {}},  # neither openapi nor swagger
        {"operations": {}},
    ],
)
def test_documents_that_are_no_description_are_refused(document: object) -> None:
    with pytest.raises(InvalidRequest, match="neither a GraphQL introspection"):
        description_kind(document)


def test_a_broken_introspection_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidRequest, match="the introspection result cannot be read"):
        check_route_map(demo(), {"__schema": {"types": "nonsense"}})
    empty_query = {"kind": "OBJECT", "name": "Q", "fields": [], "interfaces": []}
    with pytest.raises(InvalidRequest, match="Type Q must define one or more fields"):
        check_route_map(demo(), {"__schema": {"queryType": {"name": "Q"}, "types": [empty_query]}})


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["Q", "OBJECT", "name", ""]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["kind", "name", "fields", "types", "queryType", "type", "args"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(JSONISH)
def test_any_malformed_introspection_is_refused_not_crashed(schema: object) -> None:
    try:
        report = check_route_map(demo(), {"__schema": schema})
    except InvalidRequest:
        return
    assert report.kind == "graphql"  # a tiny valid schema by chance: still a report


def test_a_description_of_the_other_kind_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="has no GraphQL part"):
        check_route_map(parse_route_map(REST_ONLY_MAP, "rest-only"), introspection(SDL))
    with pytest.raises(InvalidRequest, match="has no REST rules"):
        check_route_map(demo(), {"openapi": "3.0.3", "paths": {}})
