import re
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from broker.domain.actions import is_valid_action
from broker.domain.names import is_valid_environment, is_valid_name
from broker.domain.policy import PolicyFloor, floor_to_spec
from broker.domain.templates import template_from_spec, template_to_spec
from broker.manifests.schemas import (
    DOCUMENT_SCHEMAS,
    format_path,
    load_schema,
    validator_for,
)
from tests.support.factories import floor_doc, template_doc


def _walk(node: object) -> list[dict[str, object]]:
    if isinstance(node, dict):
        return [node, *[n for v in node.values() for n in _walk(v)]]
    if isinstance(node, list):
        return [n for v in node for n in _walk(v)]
    return []


@pytest.mark.parametrize("filename", sorted(DOCUMENT_SCHEMAS.values()))
def test_schemas_are_valid_and_closed(filename: str) -> None:
    schema = load_schema(filename)
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"https://capbroker.dev/schemas/{filename}"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    objects = [n for n in _walk(schema) if n.get("type") == "object"]
    assert objects
    for node in objects:
        assert "additionalProperties" in node, node


def test_schemas_ship_inside_the_package() -> None:
    names = {p.name for p in (files("broker") / "schemas").iterdir()}
    assert set(DOCUMENT_SCHEMAS.values()) <= names


def test_published_schemas_are_the_shipped_ones() -> None:
    """One set of schemas: what the package ships (``broker/schemas`` links to the
    top-level folder) is byte for byte what ``schemas/`` publishes, however it is laid out."""
    shipped = files("broker") / "schemas"
    published = Path(__file__).resolve().parents[2] / "schemas"
    shipped_names = sorted(p.name for p in shipped.iterdir() if p.name.endswith(".json"))
    assert shipped_names == sorted(p.name for p in published.glob("*.json"))
    for name in shipped_names:
        assert (published / name).read_bytes() == (shipped / name).read_bytes(), name


def test_canonical_specs_pass_their_schema() -> None:
    t = template_from_spec("x", template_doc()["spec"])
    assert not list(
        validator_for("CapabilityTemplate").iter_errors(template_doc(**template_to_spec(t)))
    )
    assert not list(
        validator_for("PolicyFloor").iter_errors(
            floor_doc(**floor_to_spec(PolicyFloor(("a:*",), ("prod",))))
        )
    )


def _pattern(defname: str) -> re.Pattern[str]:
    schema = load_schema("template.schema.json")
    return re.compile(schema["$defs"][defname]["pattern"])


@given(st.text(alphabet="abz09-_.:*A ", max_size=12))
def test_schema_and_domain_agree_on_actions(s: str) -> None:
    schema = load_schema("template.schema.json")["$defs"]["action"]
    by_schema = bool(_pattern("action").search(s)) and len(s) <= schema["maxLength"]
    assert by_schema == is_valid_action(s, allow_wildcards=True)


@given(st.text(alphabet="az09-_A", max_size=70))
def test_schema_and_domain_agree_on_names(s: str) -> None:
    # Python's $ also matches before a final newline; the alphabet has none.
    assert bool(_pattern("name").search(s)) == is_valid_name(s)


def test_format_path() -> None:
    assert format_path(["spec", "actions", 2]) == "spec.actions[2]"
    assert format_path([]) == ""
    assert format_path(["spec", "ttl", "max"]) == "spec.ttl.max"


@given(st.text(alphabet="az09-_.A/", max_size=80))
def test_schema_and_domain_agree_on_environments(s: str) -> None:
    # ``..`` and ``.`` as owner parts: the schema's pattern cannot say "not exactly ..",
    # so the domain check is stricter there, and only there.
    if any(part in (".", "..") for part in s.split("/")[:-1]):
        assert not is_valid_environment(s)
        return
    assert bool(_pattern("environment").search(s)) == is_valid_environment(s)
