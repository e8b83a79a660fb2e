"""``capbroker routemap check``: exit codes, the printed report, bad input without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.cli_support import Run
from tests.support.factories import REST_ONLY_MAP
from tests.support.schemas import (
    GITHUB_OPERATIONS,
    RAILWAY_SCHEMA,
    demo_provider_introspection,
    github_operations,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_map_passes_against_the_demo_providers_schema(run: Run, tmp_path: Path) -> None:
    schema = tmp_path / "demo.json"
    schema.write_text(json.dumps(demo_provider_introspection()))
    result = run("routemap", "check", "railway-demo", "--schema", str(schema))
    assert result.exit_code == 0, result.output
    assert "query 11/11, mutation 8/8, subscription 0/0, all 19/19" in result.output
    assert "errors: none" in result.output


def test_a_map_file_path_is_accepted(run: Run, tmp_path: Path) -> None:
    schema = tmp_path / "demo.json"
    schema.write_text(json.dumps(demo_provider_introspection()))
    map_file = ROOT / "broker" / "routemap" / "maps" / "railway-demo.yaml"
    result = run("routemap", "check", str(map_file), "--schema", str(schema))
    assert result.exit_code == 0, result.output


def test_railway_demo_against_the_real_railway_schema(run: Run) -> None:
    result = run("routemap", "check", "railway-demo", "--schema", str(RAILWAY_SCHEMA))
    assert result.exit_code == 1
    out = result.output
    assert "query 7/152, mutation 5/230, subscription 0/13, all 12/395" in out
    assert "lookup volumeEnvironments: Cannot query field 'volume' on type 'Query'." in out
    assert "query.volume: classified by the map; Query has no such field" in out
    assert "gaps (mutation): 225" in out
    assert "... and 175 more (--json lists them all)" in out  # 50 of the 225 are shown
    assert "not ok" in out


def test_json_has_the_whole_report(run: Run) -> None:
    result = run("routemap", "check", "railway-demo", "--schema", str(RAILWAY_SCHEMA), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert len(report["gaps"]) == 395 - 12
    assert {"group": "mutation", "subject": "mutation.apiTokenCreate", "message": ""} in (
        report["gaps"]
    )
    assert report["coverage"][-1] == {"label": "all", "named": 12, "total": 395, "refused": 0}


def test_github_against_githubs_description(run: Run) -> None:
    result = run("routemap", "check", "github", "--schema", str(GITHUB_OPERATIONS), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    total = {c["label"]: c["total"] for c in report["coverage"]}
    assert total["all"] == len(github_operations()["operations"])
    named = {c["label"]: c["named"] for c in report["coverage"]}
    assert named["all"] + len(report["gaps"]) == total["all"]
    text = run("routemap", "check", "github", "--schema", str(GITHUB_OPERATIONS)).output
    assert f"state-changing {named['state-changing']}/{total['state-changing']}" in text
    assert f"DELETE {named['DELETE']}/{total['DELETE']}" in text


def bad(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("map_ref", "schema", "message"),
    [
        ("railway-demo", "missing.json", "cannot read the schema file"),
        ("railway-demo", "not-json", "the schema file is not JSON"),
        ("railway-demo", "neither", "neither a GraphQL introspection result"),
        ("rest-only", "railway", "route map rest-only has no GraphQL part"),
        ("railway-demo", "github", "route map railway-demo has no REST rules"),
        ("no-such-map", "github", "no such map file, and not a shipped map"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    run: Run, tmp_path: Path, map_ref: str, schema: str, message: str
) -> None:
    files = {
        "missing.json": str(tmp_path / "missing.json"),
        "not-json": bad(tmp_path, "x.json", "{not json"),
        "neither": bad(tmp_path, "y.json", '{"hello": "world"}'),
        "railway": str(RAILWAY_SCHEMA),
        "github": str(GITHUB_OPERATIONS),
    }
    if map_ref == "rest-only":  # a map without a GraphQL part (github has one)
        map_ref = bad(tmp_path, "rest-only.json", json.dumps(REST_ONLY_MAP))
    result = run("routemap", "check", map_ref, "--schema", files[schema])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_invalid_map_file_exits_2(run: Run, tmp_path: Path) -> None:
    map_file = bad(tmp_path, "map.yaml", "apiVersion: capbroker.dev/v1\nkind: RouteMap\n")
    result = run("routemap", "check", map_file, "--schema", str(RAILWAY_SCHEMA))
    assert result.exit_code == 2
    assert "[invalid_manifest]" in result.output
