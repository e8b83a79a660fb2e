"""Allowlists, strict JSON and template values, piece by piece (issue 14).

The attack corpus (corpus/attacks.yaml) holds the requests; these are the map loader's
side (what a map may declare) and the pure checks' edges.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker.errors import BrokerError
from broker.routemap import parse_route_map, refusal_code
from broker.routemap.check import check_route_map
from broker.routemap.jsonbody import body_json, strict_json
from broker.routemap.values import TrustedValue, check_value

from .support import run
from .test_compile import doc, problems, rule

JSON = {"Content-Type": "application/json"}


def _map(*rules: dict[str, Any], **spec: Any) -> Any:
    return parse_route_map(doc(rest=list(rules), **spec), "t.yaml")


def _refusal(route_map: Any, method: str, path: str, **kw: Any) -> str:
    with pytest.raises(BrokerError) as caught:
        run(route_map, method, path, **kw)
    return refusal_code(caught.value)


# --- what a map may declare ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "X-Forwarded-For",
        "Connection",
        "X-HTTP-Method-Override",
        "X-Capbroker-Dry-Run",
        "Accept-Encoding",
    ],
)
def test_a_map_cannot_forward_what_the_gateway_owns(name: str) -> None:
    found = problems(doc(headers={"forward": [name]}))
    assert found == [("spec.headers.forward[0]", f"{name!r} is the gateway's own")]


def test_a_map_cannot_forward_its_key_header() -> None:
    found = problems(
        doc(auth={"header": "X-Api-Key", "format": "{key}"}, headers={"forward": ["x-api-key"]})
    )
    assert found[0][0] == "spec.headers.forward[0]"
    assert "master key" in found[0][1]


def test_header_names_with_underscores_are_refused_by_the_schema() -> None:
    found = problems(doc(headers={"forward": ["X_Request_Id"]}))
    assert found[0][0] == "spec.headers.forward[0]"


@pytest.mark.parametrize(
    ("changes", "path", "text"),
    [
        ({"body": {"fields": ["x"]}}, "spec.rest[0].body", "a GET rule takes no body"),
        ({"query": ["_method"]}, "spec.rest[0].query", "method override"),
        ({"query": ["X-HTTP-Method"]}, "spec.rest[0].query", "method override"),
        (
            {"method": "POST", "body": {"fields": ["_method"]}},
            "spec.rest[0].body",
            "method override",
        ),
        (
            {"method": "POST", "resources": ["r:{body.id}"]},
            "spec.rest[0].body",
            "declare body.fields or any",
        ),
        (
            {"method": "POST", "resources": ["r:{body.id}"], "body": "stream"},
            "spec.rest[0].body",
            "declare body.fields or any",
        ),
        (
            {"method": "POST", "resources": ["r:{body.id}"], "body": {"fields": ["name"]}},
            "spec.rest[0].body.fields",
            "must list every field the rule reads ({body.id})",
        ),
    ],
)
def test_rule_allowlists_are_checked_at_load(changes: dict[str, Any], path: str, text: str) -> None:
    found = problems(doc(rest=[rule(**changes)]))
    assert any(p == path and text in m for p, m in found), found


@pytest.mark.parametrize("body", ["nothing", {"fields": ["a"], "x": 1}, {"fields": "a"}, 3])
def test_a_body_allowlist_has_one_of_four_shapes(body: object) -> None:
    found = problems(doc(rest=[rule(method="POST", body=body)]))
    assert found[0][0].startswith("spec.rest[0].body"), found


def test_a_bad_resource_type_pattern_is_reported() -> None:
    assert problems(doc(resource_types={"repo": "("}))[0][0] == "spec.resource_types.repo"


# --- what a call may carry -----------------------------------------------------------------


def test_no_declaration_means_no_query_and_no_body() -> None:
    m = _map(rule(method="POST", path="/x"))
    assert run(m, "POST", "/x").actions == {"repo:read"}
    assert _refusal(m, "POST", "/x", query="a=1") == "undeclared_parameter"
    assert _refusal(m, "POST", "/x", headers=JSON, body=b'{"a": 1}') == "body_not_allowed"
    # an empty object carries nothing (some clients send one with every write)
    assert run(m, "POST", "/x", headers=JSON, body=b"{ }").actions == {"repo:read"}


def test_query_any_takes_any_parameter_but_not_twice_nor_an_override() -> None:
    m = _map(rule(query="any"))
    assert run(m, "GET", "/x", query="a=1&b=2").actions == {"repo:read"}
    assert _refusal(m, "GET", "/x", query="a=1&a=2") == "duplicate_parameter"
    for name in ("X-Method-Override", ".method", "%20method", "x.http.method"):
        assert _refusal(m, "GET", "/x", query=f"{name}=PUT") == "method_override", name


def test_body_any_takes_any_document_but_checks_what_templates_read() -> None:
    m = _map(rule(method="POST", body="any", resources=["r:{body.target.id}"]))
    body = json.dumps({"target": {"id": "a"}, "free": [1, {"x": None}]}).encode()
    assert run(m, "POST", "/x", headers=JSON, body=body).calls[0].resources == ("r:a",)
    # a key that misses {body.target.id} only by case: a case-insensitive decoder
    # upstream would act on the id the classifier never saw
    near = json.dumps({"target": {"ID": "b"}}).encode()
    assert _refusal(m, "POST", "/x", headers=JSON, body=near) == "undeclared_field"
    near = json.dumps({"Target": {"id": "b"}}).encode()
    assert _refusal(m, "POST", "/x", headers=JSON, body=near) == "undeclared_field"


def test_a_stream_body_is_never_json_nor_a_form() -> None:
    m = _map(rule(method="PUT", path="/up/{name}", body="stream"))
    ok = run(m, "PUT", "/up/a", headers={"Content-Type": "application/octet-stream"}, body=b"x")
    assert ok.actions == {"repo:read"}
    for media in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data"):
        got = _refusal(m, "PUT", "/up/a", headers={"Content-Type": media}, body=b"_method=GET")
        assert got == "unsupported_media_type", media


def test_a_resource_type_pattern_pins_its_ids() -> None:
    m = _map(
        rule(path="/volumes/{id}", resources=["volume:{id}"]),
        resource_types={"volume": "[0-9a-f]{8}"},
    )
    assert run(m, "GET", "/volumes/0badf00d").calls[0].resources == ("volume:0badf00d",)
    assert _refusal(m, "GET", "/volumes/vol-pg") == "bad_value"


# --- the pure checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "A": 2}',
        '{"x": {"straße": 1, "STRASSE": 2}}',  # full case folding: ß folds to ss
        '{"\\u017f": 1, "s": 2}',  # the long s folds to s (Go's encoding/json agrees)
        '{"a\\u0000": 1}',
        '{"a": "\\udfff"}',
        '["\\ud800"]',
        '{"n": 9007199254740992}',
        '{"n": -9007199254740992}',
        '{"n": 1e309}',
        '{"n": Infinity}',
        '{"n": NaN}',
        "\ufeff{}",
    ],
)
def test_strict_json_refuses_what_decoders_read_differently(text: str) -> None:
    with pytest.raises(BrokerError) as caught:
        strict_json(text.encode("utf-8"))
    assert refusal_code(caught.value) == "invalid_json"


def test_strict_json_keeps_what_every_decoder_reads_alike() -> None:
    text = '{"n": 9007199254740991, "f": 1.5e300, "s": "\\ud83d\\ude00 caf\\u00e9", "a": [-0]}'
    assert strict_json(text.encode()) == {
        "n": 9007199254740991,
        "f": 1.5e300,
        "s": "\U0001f600 café",
        "a": [0],
    }


def test_override_keys_are_refused_at_the_top_of_a_body_only() -> None:
    with pytest.raises(BrokerError) as caught:
        body_json(b'{"X_HTTP_METHOD": "DELETE"}')
    assert refusal_code(caught.value) == "method_override"
    assert body_json(b'{"payload": {"_method": "x"}, "method": "merge"}')["method"] == "merge"


@pytest.mark.parametrize(
    "value",
    [".", "..", "a/../b", "a/./b", "/a", "a/", "a//b", "a\\b", "a*", "?", "a\tb", "a\x85b", ""],
)
def test_a_value_that_is_not_an_id_is_refused(value: str) -> None:
    with pytest.raises(BrokerError) as caught:
        check_value(value, "v")
    assert refusal_code(caught.value) == "bad_value"


def test_a_qualified_name_passes_and_a_trusted_value_keeps_its_slashes() -> None:
    assert check_value("acme/app", "repositoryNameWithOwner") == "acme/app"
    assert check_value(TrustedValue("docs//a.md"), "answer") == "docs//a.md"
    assert check_value("vol-pg.v2_x~y@z", "id") == "vol-pg.v2_x~y@z"
    with pytest.raises(BrokerError):
        check_value(TrustedValue("a/*"), "path")


def test_routemap_check_notes_what_the_allowlists_add_or_leave_out() -> None:
    m = _map(rule(method="POST", path="/x", query=["page", "tpyo"], body={"fields": ["a", "b"]}))
    ops = {
        "operations": [
            {
                "method": "POST",
                "path": "/x",
                "query_parameters": ["page", "per_page"],
                "body_properties": ["a", "c"],
            }
        ]
    }
    report = check_route_map(m, ops)
    assert report.errors[0].subject == "lookup envs"  # the base map's, not ours
    assert report.notes == (
        "POST /x: query declares what the description does not list: tpyo",
        "POST /x: query leaves out (refused): per_page",
        "POST /x: body declares what the description does not list: b",
        "POST /x: body leaves out (refused): c",
    )
