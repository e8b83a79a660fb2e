"""``capbroker routemap check MAP --schema REST --schema GRAPHQL``: one map, both its parts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.cli_support import Run
from tests.support.schemas import GITHUB_GRAPHQL, GITHUB_OPERATIONS, introspection

SDL = """
type Query { repository(owner: String!, name: String!): Repository }
type Mutation { closeIssue(input: CloseIssueInput!): Repository deleteIssue(id: ID!): Repository }
type Repository { name: String }
input CloseIssueInput { issueId: ID! }
"""
OPERATIONS = {
    "operations": [
        {"method": "GET", "path": "/repos/{owner}/{repo}", "operationId": "repos/get"},
        {"method": "DELETE", "path": "/repos/{owner}/{repo}", "operationId": "repos/delete"},
    ]
}


def both_parts(*, delete_issue: bool = True) -> dict[str, object]:
    repo = {
        "path": "/repos/{owner}/{repo}",
        "resources": ["repo:{owner}/{repo}"],
        "environment": {"unscoped": True},
    }
    mutation = {
        "closeIssue": {
            "action": "issue:write",
            "resources": ["issue:{args.input.issueId}"],
            "environment": {"unscoped": True},
        }
    }
    if delete_issue:
        mutation["deleteIssue"] = {
            "action": "issue:write",
            "resources": ["issue:{args.id}"],
            "environment": {"unscoped": True},
        }
    return {
        "apiVersion": "capbroker.dev/v1",
        "kind": "RouteMap",
        "metadata": {"name": "both"},
        "spec": {
            "provider": "both",
            "upstream": "https://api.example.test",
            "auth": {"header": "Authorization", "format": "Bearer {key}"},
            "actions": {
                "repo:read": {"effect": "read"},
                "repo:delete": {"effect": "destructive"},
                "issue:write": {"effect": "write"},
            },
            "rest": [
                {"method": "GET", "action": "repo:read", **repo},
                {"method": "DELETE", "action": "repo:delete", **repo},
            ],
            "graphql": {
                "endpoint": "/graphql",
                "operations": {
                    "query": {
                        "repository": {
                            "action": "repo:read",
                            "resources": ["repo:{args.owner}/{args.name}"],
                            "environment": {"unscoped": True},
                        }
                    },
                    "mutation": mutation,
                },
            },
        },
    }


def files(tmp_path: Path, route_map: dict[str, object]) -> tuple[str, str, str]:
    map_file, rest, graphql = tmp_path / "map.json", tmp_path / "rest.json", tmp_path / "gql.json"
    map_file.write_text(json.dumps(route_map))
    rest.write_text(json.dumps(OPERATIONS))
    graphql.write_text(json.dumps({"data": introspection(SDL)}))
    return str(map_file), str(rest), str(graphql)


def test_both_parts_are_checked_and_pass(run: Run, tmp_path: Path) -> None:
    map_file, rest, graphql = files(tmp_path, both_parts())
    result = run("routemap", "check", map_file, "--schema", rest, "--schema", graphql)
    assert result.exit_code == 0, result.output
    assert "state-changing 1/1, DELETE 1/1, all 2/2" in result.output
    assert "query 1/1, mutation 2/2, subscription 0/0, all 3/3" in result.output
    assert result.output.count("ok: every root field or operation named, no error") == 2


def test_a_gap_in_one_part_fails_the_whole_check(run: Run, tmp_path: Path) -> None:
    map_file, rest, graphql = files(tmp_path, both_parts(delete_issue=False))
    result = run("routemap", "check", map_file, "--schema", rest, "--schema", graphql)
    assert result.exit_code == 1, result.output
    assert "mutation.deleteIssue" in result.output
    assert "state-changing 1/1" in result.output  # the REST part is still reported, and passes
    report = json.loads(
        run("routemap", "check", map_file, "--schema", graphql, "--schema", rest, "--json").output
    )
    assert [r["kind"] for r in report] == ["graphql", "rest"]
    assert [r["ok"] for r in report] == [False, True]


def test_two_descriptions_of_one_kind_are_refused(run: Run, tmp_path: Path) -> None:
    map_file, rest, _ = files(tmp_path, both_parts())
    result = run("routemap", "check", map_file, "--schema", rest, "--schema", rest)
    assert result.exit_code == 2, result.output
    assert "are both rest descriptions; give one of each kind" in result.output
    assert "Traceback" not in result.output


def test_the_github_map_passes_against_both_of_githubs_descriptions(run: Run) -> None:
    schemas = ("--schema", str(GITHUB_OPERATIONS), "--schema", str(GITHUB_GRAPHQL))
    result = run("routemap", "check", "github", *schemas)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "state-changing 480/480 (41 refused by name), DELETE 158/158" in out
    assert "mutation 247/247 (77 refused by name)" in out
    assert out.count("errors: none") == 2
