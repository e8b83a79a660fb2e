"""The providers file: what a gateway fronts, validated with messages that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.errors import InvalidRequest
from broker.gateway.factory import load_providers, parse_providers
from broker.secrets.location import KeyLocation


def test_shipped_maps_defaults_and_inventory(tmp_path: Path) -> None:
    f = tmp_path / "providers.yaml"
    f.write_text(
        "providers:\n"
        "  - {name: railway-demo, route_map: railway-demo, upstream: 'http://127.0.0.1:9/'}\n"
        "  - name: github\n"
        "    route_map: github\n"
        "    inventory: {'repo:acme/api': [staging, production]}\n"
    )
    routes = load_providers(f)
    assert routes["railway-demo"].upstream == "http://127.0.0.1:9"
    assert routes["railway-demo"].master_key == KeyLocation(
        name="providers/railway-demo/master-key"
    )
    assert routes["github"].inventory == {"repo:acme/api": ("staging", "production")}


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({}, "one key, 'providers'"),
        ({"providers": []}, "non-empty list"),
        ({"providers": [{"name": "x"}]}, "route_map are required"),
        (
            {"providers": [{"name": "github", "route_map": "github", "color": "red"}]},
            "allowed keys",
        ),
        ({"providers": [{"name": "other", "route_map": "github"}]}, "is for provider 'github'"),
        (
            {"providers": [{"name": "github", "route_map": "github", "inventory": {"k": []}}]},
            "non-empty list of environment names",
        ),
        ({"providers": [{"name": "github", "route_map": "github"}] * 2}, "listed twice"),
        ("providers: []", "one key, 'providers'"),
        ({"providers": [{"name": "github", "route_map": "github"}], "x": 1}, "one key"),
        ({"providers": {"name": "github"}}, "non-empty list"),
        ({"providers": ["github"]}, "allowed keys"),
        ({"providers": [{"name": "github", "route_map": ""}]}, "non-empty string"),
        ({"providers": [{"name": "github", "route_map": "github", "upstream": 8}]}, "string"),
        (
            {"providers": [{"name": "github", "route_map": "github", "inventory": ["k"]}]},
            "mapping of resource key to environments",
        ),
        (
            {"providers": [{"name": "github", "route_map": "github", "inventory": {1: ["s"]}}]},
            "resource keys must be non-empty strings",
        ),
        (
            {"providers": [{"name": "github", "route_map": "github", "inventory": {"k": [""]}}]},
            "non-empty list of environment names",
        ),
    ],
)
def test_bad_providers_files_are_named(doc: object, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_providers(doc, source="p.yaml", base=tmp_path)
    assert fragment in err.value.detail
    assert "p.yaml" in err.value.detail


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    doc = {"providers": [{"name": "", "route_map": "github", "colour": "red"}, {"name": "x"}]}
    with pytest.raises(InvalidRequest) as err:
        parse_providers(doc, source="p.yaml", base=tmp_path)
    detail = err.value.detail
    assert "p.yaml: providers[0].name: every value must be a non-empty string" in detail
    assert "p.yaml: providers[0]: allowed keys are" in detail
    assert "p.yaml: providers[1]: name and route_map are required" in detail


RAILWAY_LIKE = """\
apiVersion: capbroker.dev/v1
kind: RouteMap
metadata: {name: rw}
spec:
  provider: rw
  upstream: http://127.0.0.1:9
  auth:
    header: Authorization
    format: "Bearer {key}"
    alternatives:
      project-token: {header: Project-Access-Token, format: "{key}"}
  actions: {project:read: {effect: read}}
  rest:
    - {method: GET, path: /p, action: "project:read", environment: {unscoped: true}}
"""


def test_a_provider_picks_one_of_its_maps_key_headers(tmp_path: Path) -> None:
    (tmp_path / "rw.yaml").write_text(RAILWAY_LIKE)
    doc = {"providers": [{"name": "rw", "route_map": "rw.yaml", "auth": "project-token"}]}
    route = parse_providers(doc, source="p.yaml", base=tmp_path)["rw"]
    assert route.key_auth.header == "Project-Access-Token"
    default = parse_providers(
        {"providers": [{"name": "rw", "route_map": "rw.yaml"}]}, source="p.yaml", base=tmp_path
    )["rw"]
    assert default.key_auth.header == "Authorization"
    with pytest.raises(InvalidRequest, match="'workspace' is no alternative of the map"):
        parse_providers(
            {"providers": [{"name": "rw", "route_map": "rw.yaml", "auth": "workspace"}]},
            source="p.yaml",
            base=tmp_path,
        )
