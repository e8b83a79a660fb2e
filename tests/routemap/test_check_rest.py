"""routemap check, REST half: shapes, a hand-made OpenAPI document, GitHub's description."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.errors import InvalidRequest
from broker.routemap import RouteMap, parse_route_map
from broker.routemap.check import check_route_map
from broker.routemap.check_rest import STATE_CHANGING, matches, operations_of, shape
from broker.routemap.paths import parse_path_template
from tests.routemap.support import github
from tests.support.schemas import github_operations, load_trim

LITERAL = st.sampled_from(["repos", "git", "refs", "issues", "comments", "hooks", "v1"])
NAME = st.sampled_from(["owner", "org", "repo", "id", "name", "ref"])
SEGMENTS = st.lists(st.one_of(LITERAL, NAME.map(lambda n: "{" + n + "}")), min_size=1, max_size=6)


def unique_names(segments: list[str]) -> str:
    """A path template whose parameters are numbered (a template may not repeat a name)."""
    out = [s[:-1] + f"{i}}}" if s.startswith("{") else s for i, s in enumerate(segments)]
    return "/" + "/".join(out)


@given(SEGMENTS, st.data())
def test_shapes_match_whatever_the_parameters_are_called(
    segments: list[str], data: st.DataObject
) -> None:
    template = parse_path_template(unique_names(segments))
    renamed = ["{" + data.draw(NAME) + "}" if s.startswith("{") else s for s in segments]
    assert matches(template, shape("/" + "/".join(renamed)))


@given(SEGMENTS, st.integers(min_value=0, max_value=5))
def test_a_literal_never_matches_a_parameter(segments: list[str], at: int) -> None:
    at %= len(segments)
    template = parse_path_template(unique_names(segments))
    flipped = list(segments)
    flipped[at] = "comments" if segments[at].startswith("{") else "{x}"
    assert not matches(template, shape("/" + "/".join(flipped)))


def test_a_tail_parameter_takes_one_or_more_segments() -> None:
    template = parse_path_template("/repos/{o}/{r}/contents/{path+}")
    assert matches(template, shape("/repos/{owner}/{repo}/contents/{path}"))
    assert matches(template, shape("/repos/{owner}/{repo}/contents/a/{b}"))
    assert not matches(template, shape("/repos/{owner}/{repo}/contents"))


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Tiny", "version": "1"},
    "paths": {
        "/repos/{owner}/{repo}": {
            "get": {"operationId": "repos/get"},
            "delete": {"operationId": "repos/delete"},
            "parameters": [],
        },
        "/repos/{owner}/{repo}/hooks": {"post": {"operationId": "repos/create-webhook"}},
        "/orgs/{org}": {"get": {"operationId": "orgs/get"}},
    },
}


def rest_map(*rules: tuple[str, str] | dict[str, Any]) -> RouteMap:
    rest = [
        r
        if isinstance(r, dict)
        else {
            "method": r[0],
            "path": r[1],
            "action": "repo:read",
            "environment": {"unscoped": True},
        }
        for r in rules
    ]
    doc = {
        "apiVersion": "capbroker.dev/v1",
        "kind": "RouteMap",
        "metadata": {"name": "tiny-rest"},
        "spec": {
            "provider": "tiny",
            "upstream": "http://127.0.0.1:1",
            "auth": {"header": "Authorization", "format": "Bearer {key}"},
            "actions": {"repo:read": {"effect": "read"}},
            "rest": rest,
        },
    }
    return parse_route_map(doc, "tiny-rest.yaml")


def test_gaps_are_split_into_state_changing_and_reads() -> None:
    report = check_route_map(rest_map(("GET", "/repos/{o}/{r}"), ("GET", "/nothing/{x}")), OPENAPI)
    assert [(f.group, f.subject, f.message) for f in report.gaps] == [
        ("state-changing", "DELETE /repos/{owner}/{repo}", "repos/delete"),
        ("state-changing", "POST /repos/{owner}/{repo}/hooks", "repos/create-webhook"),
        ("read", "GET /orgs/{org}", "orgs/get"),
    ]
    assert [str(e) for e in report.errors] == [
        "GET /nothing/{x}: matches no operation of the description"
    ]
    assert [str(c) for c in report.coverage] == ["state-changing 0/2", "DELETE 0/1", "all 1/4"]
    assert report.description == "Tiny 1"


def test_a_map_naming_every_operation_is_ok() -> None:
    report = check_route_map(
        rest_map(
            ("GET", "/repos/{a}/{b}"),
            ("DELETE", "/repos/{a}/{b}"),
            ("POST", "/repos/{a}/{b}/hooks"),
            ("GET", "/orgs/{name}"),
        ),
        OPENAPI,
    )
    assert report.ok
    assert [str(c) for c in report.coverage] == ["state-changing 2/2", "DELETE 1/1", "all 4/4"]


@pytest.mark.parametrize(
    "document",
    [
        {"operations": [{"method": "GET"}]},
        {"operations": [{"method": "GET", "path": "repos"}]},
        {"openapi": "3.0.3", "paths": {"/a": "not an object"}},
    ],
)
def test_malformed_operations_are_refused(document: object) -> None:
    with pytest.raises(InvalidRequest):
        operations_of(document)


def test_github_map_against_githubs_published_description() -> None:
    snapshot = github_operations()
    ops = snapshot["operations"]
    report = check_route_map(github(), snapshot)
    changing = [o for o in ops if o["method"] in STATE_CHANGING]
    deletes = [o for o in ops if o["method"] == "DELETE"]
    assert report.coverage_of("all").total == len(ops)
    assert report.coverage_of("state-changing").total == len(changing)
    assert report.coverage_of("DELETE").total == len(deletes)
    assert report.coverage_of("all").named + len(report.gaps) == len(ops)
    changing_gaps = [g for g in report.gaps if g.group == "state-changing"]
    assert report.coverage_of("state-changing").named + len(changing_gaps) == len(changing)
    gaps = {g.subject for g in report.gaps}
    # named by the map (issue 13): repository and ref deletion, hooks, workflow dispatch
    assert (
        not {
            "DELETE /repos/{owner}/{repo}",
            "DELETE /repos/{owner}/{repo}/git/refs/{ref}",
            "POST /repos/{owner}/{repo}/hooks",
            "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
        }
        & gaps
    )
    assert report.errors == ()
    assert report.ok


def test_body_references_are_checked_where_the_body_is_known() -> None:
    operations = {
        "operations": [
            {"method": "POST", "path": "/repos/{o}/{r}/deployments", "body_properties": ["ref"]}
        ]
    }
    rule = {
        "method": "POST",
        "path": "/repos/{o}/{r}/deployments",
        "action": "repo:read",
        "body": "any",
        "environment": {"name": "{body.environment|production}"},
    }
    route_map = rest_map(rule)
    report = check_route_map(route_map, operations)
    assert [str(e) for e in report.errors] == [
        "POST /repos/{o}/{r}/deployments: {body.environment}: the body has no 'environment'"
    ]
    operations["operations"][0]["body_properties"] = ["ref", "environment"]
    assert check_route_map(route_map, operations).ok


def test_the_trimmed_form_reports_what_the_full_document_does() -> None:
    full = {
        **OPENAPI,
        "paths": {
            **OPENAPI["paths"],
            "/repos/{owner}/{repo}/deployments": {
                "parameters": [{"$ref": "#/components/parameters/owner"}],
                "post": {
                    "operationId": "repos/create-deployment",
                    "parameters": [{"name": "repo", "in": "path"}, {"name": "x", "in": "query"}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"allOf": [{"$ref": "#/components/schemas/d"}]}
                            }
                        }
                    },
                },
            },
        },
        "components": {
            "parameters": {"owner": {"name": "owner", "in": "path"}},
            "schemas": {"d": {"properties": {"ref": {}, "environment": {}}}},
        },
    }
    trimmed = load_trim().trim(full)
    assert trimmed["operations"][-1] == {
        "method": "POST",
        "path": "/repos/{owner}/{repo}/deployments",
        "operationId": "repos/create-deployment",
        "path_parameters": ["owner", "repo"],
        "query_parameters": ["x"],
        "body_properties": ["environment", "ref"],
    }
    route_map = rest_map(("GET", "/repos/{o}/{r}"), ("POST", "/repos/{o}/{r}/deployments"))
    one, other = check_route_map(route_map, full), check_route_map(route_map, trimmed)
    assert one.coverage == other.coverage
    assert one.gaps == other.gaps
    assert one.errors == other.errors == ()
