from typing import Any

import pytest

from broker.domain.policy import PolicyFloor
from broker.errors import InvalidRequest, Reason
from broker.manifests import (
    Manifest,
    ManifestError,
    ManifestProblem,
    manifest_floor,
    manifest_template,
    parse_manifest,
)
from tests.support.factories import floor_doc, template_doc


def _problems(doc: object, source: str = "t.yaml#1") -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as exc:
        parse_manifest(doc, source)
    assert isinstance(exc.value, InvalidRequest)
    assert exc.value.reason is Reason.INVALID_MANIFEST
    assert all(p.source == source for p in exc.value.problems)
    return [(p.path, p.message) for p in exc.value.problems]


def test_parse_template() -> None:
    doc = template_doc()
    doc["metadata"]["labels"] = {"team": "infra"}
    m = parse_manifest(doc, "t.yaml#1")
    assert m == Manifest(
        "CapabilityTemplate", "staging-agent", doc["spec"], "t.yaml#1", {"team": "infra"}
    )
    assert manifest_template(m).max_ttl == 3600
    with pytest.raises(ValueError, match="not a PolicyFloor"):
        manifest_floor(m)


def test_parse_floor() -> None:
    m = parse_manifest(floor_doc(forbidden_actions=["backup:*"]), "f.yaml#1")
    assert (m.kind, m.name) == ("PolicyFloor", "default")
    assert manifest_floor(m) == PolicyFloor(("backup:*",), ())


def test_the_floor_is_named_default() -> None:
    doc = floor_doc()
    doc["metadata"]["name"] = "strict"
    assert _problems(doc) == [
        ("metadata.name", "'strict' must be 'default' (there is one policy floor)")
    ]


def test_bad_action_message_matches_the_contract() -> None:
    doc = template_doc(actions=["project:read", "volume:*", "Volume:Delete"])
    with pytest.raises(ManifestError) as exc:
        parse_manifest(doc, "templates/staging.yaml#1")
    assert exc.value.detail == (
        "templates/staging.yaml#1: spec.actions[2]: "
        "'Volume:Delete' is not a valid action (resource:action, lower case)"
    )
    assert exc.value.extra["problems"] == [
        {
            "source": "templates/staging.yaml#1",
            "path": "spec.actions[2]",
            "message": "'Volume:Delete' is not a valid action (resource:action, lower case)",
        }
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"provider": None}, ("spec.provider", "expected a string, got null")),
        ({"environments": []}, ("spec.environments", "must have at least 1 item(s)")),
        (
            {"environments": ["a", "a"]},
            ("spec.environments", "lists the same entry more than once"),
        ),
        ({"actions": "volume:read"}, ("spec.actions", "expected a list, got a string")),
        ({"ttl": {"default": 0, "max": "1h"}}, ("spec.ttl.default", "0 is not a valid duration")),
        ({"ttl": {"default": "1d", "max": "1h"}}, ("spec.ttl.default", "'1d' is not a valid")),
        ({"ttl": {"max": "1h"}}, ("spec.ttl.default", "is required")),
        ({"budgets": {"calls": 0}}, ("spec.budgets.calls", "must be at least 1")),
        ({"budgets": {"calls": True}}, ("spec.budgets.calls", "expected a whole number")),
        ({"approval": {"approvers": 11}}, ("spec.approval.approvers", "must be at most 10")),
        ({"agents": ["CI Bot"]}, ("spec.agents[0]", "'CI Bot' is not a valid agent name")),
        ({"resources": ["a b"]}, ("spec.resources[0]", "'a b' is not a valid resource")),
        ({"description": "x" * 1001}, ("spec.description", "must be at most 1000 characters")),
        ({"verbs": ["a:b"]}, ("spec.verbs", "unknown field")),
    ],
)
def test_schema_problems_in_plain_words(spec: dict[str, Any], expected: tuple[str, str]) -> None:
    problems = _problems(template_doc(**spec))
    path, fragment = expected
    assert any(p == path and fragment in msg for p, msg in problems), problems


def test_missing_top_level_fields() -> None:
    problems = _problems({"apiVersion": "capbroker.dev/v1", "kind": "CapabilityTemplate"})
    assert problems == [("metadata", "is required"), ("spec", "is required")]


def test_missing_spec_fields_all_reported() -> None:
    doc = template_doc()
    doc["spec"] = {}
    paths = {p for p, _ in _problems(doc)}
    assert paths == {"spec.provider", "spec.environments", "spec.actions", "spec.ttl"}


def test_unknown_kind_and_version() -> None:
    doc = template_doc()
    doc["apiVersion"] = "capbroker.dev/v2"
    doc["kind"] = "Secret"
    assert _problems(doc) == [
        ("apiVersion", "unknown apiVersion 'capbroker.dev/v2' (expected capbroker.dev/v1)"),
        (
            "kind",
            "unknown kind 'Secret' (expected CapabilityTemplate, PolicyFloor or ResourceServer)",
        ),
    ]


@pytest.mark.parametrize("doc", [[], "text", 3])
def test_non_objects(doc: object) -> None:
    assert _problems(doc)[0][0] == ""


def test_cross_field_rules_run_after_the_schema() -> None:
    doc = template_doc(ttl={"default": "2h", "max": "1h"}, approval={"actions": ["backup:delete"]})
    assert sorted(_problems(doc)) == [
        (
            "spec.approval.actions[0]",
            "'backup:delete' is not covered by any of the template's actions",
        ),
        ("spec.ttl.default", "default (7200s) is longer than max (3600s)"),
    ]


def test_long_values_are_shortened_in_messages() -> None:
    problems = _problems(template_doc(actions=["x" * 300]))
    assert problems[0][0] == "spec.actions[0]"
    assert len(problems[0][1]) < 200


def test_problem_str() -> None:
    assert str(ManifestProblem("a.yaml#1", "", "broken")) == "a.yaml#1: broken"
    assert str(ManifestProblem("a.yaml#1", "spec", "broken")) == "a.yaml#1: spec: broken"


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"provider": "railway\n"}, "spec.provider"),
        ({"actions": ["volume:read\n"]}, "spec.actions[0]"),
        ({"environments": ["staging\n"]}, "spec.environments[0]"),
        ({"ttl": {"default": "15m\n", "max": "1h"}}, "spec.ttl.default"),
        ({"resources": ["vol\n"]}, "spec.resources[0]"),
    ],
)
def test_a_trailing_newline_never_passes_a_pattern(spec: dict[str, Any], path: str) -> None:
    # Python's $ matches before a final newline; JSON Schema's (ECMA-262) does not.
    assert path in [p for p, _ in _problems(template_doc(**spec))]
