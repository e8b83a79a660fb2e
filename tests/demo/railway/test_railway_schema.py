"""The replica runs on the real schema: wrong shapes fail as on the real API, and what the
replica does not implement answers an error, never a made-up value."""

from __future__ import annotations

import dataclasses
import gzip
import inspect
import json
from pathlib import Path

import pytest
from graphql import GraphQLObjectType

from broker.demo.railway import IDS, railway_schema
from broker.demo.railway import records as records_module
from broker.demo.railway.resolvers import MUTATIONS, NESTED, QUERIES, _snake
from broker.demo.railway.schema import SCHEMA_FILE
from broker.demo.railway.writes import Writes

from .railway_support import Replica

SNAPSHOT = Path(__file__).parents[2] / "data" / "schemas" / "railway" / "schema.json"
PACKAGE = Path(records_module.__file__).parent


def test_the_shipped_schema_is_the_published_snapshot() -> None:
    shipped = gzip.decompress((PACKAGE / SCHEMA_FILE).read_bytes())
    assert json.loads(shipped) == json.loads(SNAPSHOT.read_bytes())
    schema = railway_schema()
    assert schema.query_type is not None
    assert schema.mutation_type is not None
    assert (len(schema.query_type.fields), len(schema.mutation_type.fields)) == (152, 230)


def test_every_implemented_field_is_a_real_one_with_its_real_arguments() -> None:
    schema = railway_schema()
    assert schema.query_type is not None
    assert schema.mutation_type is not None
    assert set(QUERIES) <= set(schema.query_type.fields)
    for field_name, method in MUTATIONS.items():
        field = schema.mutation_type.fields[field_name]
        params = list(inspect.signature(getattr(Writes, method)).parameters)[1:]
        assert sorted(params) == sorted(field.args), field_name
    for type_name, field_name in NESTED:
        graphql_type = schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType)
        assert field_name in graphql_type.fields, (type_name, field_name)


@pytest.mark.parametrize(
    ("record", "type_name", "internal"),
    [
        (records_module.Variable, "Variable", {"value"}),
        (records_module.ProjectToken, "ProjectToken", {"token_hash"}),
        (records_module.VolumeInstanceBackup, "VolumeInstanceBackup", {"volume_instance_id"}),
        (records_module.User, "User", {"workspace_ids"}),
        (records_module.Service, "Service", {"environment_ids"}),
    ],
)
def test_internal_attributes_are_no_fields_of_the_real_type(
    record: type, type_name: str, internal: set[str]
) -> None:
    graphql_type = railway_schema().get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType)
    fields = {_snake(name) for name in graphql_type.fields}
    attributes = {f.name for f in dataclasses.fields(record)}
    assert attributes - fields == internal


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{ volume(id: "x") { id } }', "Cannot query field 'volume' on type 'Query'."),
        (
            '{ project(projectId: "x") { id } }',
            "Unknown argument 'projectId' on field 'Query.project'.",
        ),
        ("{ project(id: 5) { id } }", "String cannot represent a non string value: 5"),
        (
            '{ project(id: "x") { volumes { id } } }',
            "Cannot query field 'id' on type 'ProjectVolumesConnection'.",
        ),
        (
            'mutation { variableUpsert(input: {projectId: "p", environmentId: "e", name: "N"}) }',
            "Field 'VariableUpsertInput.value' of required type 'String!' was not provided.",
        ),
        (
            'mutation { volumeInstanceBackupScheduleUpdate(volumeInstanceId: "i", kinds: [HOUR]) }',
            "Value 'HOUR' does not exist in 'VolumeInstanceBackupScheduleKind' enum.",
        ),
    ],
)
def test_wrong_shapes_fail_validation_before_anything_runs(
    replica: Replica, query: str, message: str
) -> None:
    for _ in range(2):  # the second answer comes from the replica's cache of checked documents
        response = replica.post(query)
        assert response.status_code == 400
        messages = [e["message"] for e in response.json()["errors"]]
        assert messages[0] == message
    first, second = replica.requests()
    assert first["operations"] == second["operations"]
    assert [op["executed"] for op in first["operations"]] == [False]


def test_wrong_variable_types_fail_before_any_field_runs(replica: Replica) -> None:
    query = "mutation($v: String!) { volumeDelete(volumeId: $v) }"
    body = replica.gql(query, {"v": 42})
    assert body["data"] is None
    assert "String cannot represent a non string value" in body["errors"][0]["message"]
    assert IDS.shared_volume in replica.server.state.tables.volumes
    [entry] = replica.requests()
    assert entry["operations"][0]["executed"] is False


def test_unimplemented_root_fields_answer_an_error(replica: Replica) -> None:
    body = replica.gql("{ templates { edges { node { id } } } }")
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Query.templates is not implemented by the replica"
    assert error["extensions"]["code"] == "NOT_IMPLEMENTED"
    mutation = 'mutation { apiTokenCreate(input: {name: "x"}) }'
    error = replica.error(mutation)
    assert error["message"] == "Mutation.apiTokenCreate is not implemented by the replica"


def test_unimplemented_fields_below_the_root_answer_an_error(replica: Replica) -> None:
    body = replica.gql(
        "query($id: String!) { project(id: $id) { name botPrEnvironments } }", {"id": IDS.shop}
    )
    assert body["data"] is None  # both fields are non-null: the error bubbles up to data
    assert (
        body["errors"][0]["message"]
        == "Project.botPrEnvironments is not implemented by the replica"
    )
    assert body["errors"][0]["path"] == ["project", "botPrEnvironments"]


def test_optional_arguments_the_replica_does_not_honour_are_refused(replica: Replica) -> None:
    error = replica.error("{ projects(orderBy: NAME_ASC) { edges { node { id } } } }")
    assert error["message"] == "the argument orderBy is not implemented by the replica"


def test_introspection_answers_from_the_real_schema(replica: Replica) -> None:
    query = '{ __type(name: "VolumeInstance") { fields { name } } }'
    fields = {f["name"] for f in replica.data(query)["__type"]["fields"]}
    assert {"environmentId", "volumeId", "environment", "mountPath"} <= fields
