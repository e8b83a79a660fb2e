"""The shipped ``github`` map on real calls (REST as ``gh api`` and octokit send them,
GraphQL as ``gh`` sends it), and held against GitHub's published descriptions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker.errors import BrokerError
from broker.routemap import (
    UNSCOPED,
    Call,
    EnvInventory,
    EnvLookup,
    EnvName,
    LookupCall,
    refusal_code,
)
from broker.routemap.check import check_route_map
from tests.support.schemas import github_graphql, github_operations, load_schema_module

from .support import github, gql, run

JSON = {"Content-Type": "application/json"}
REPO = ("repo:acme/app",)
REPO_INVENTORY = EnvInventory("repo:acme/app")


def rest(method: str, path: str, body: object = None) -> Call:
    raw = b"" if body is None else json.dumps(body).encode()
    if body is None and method not in ("GET", "HEAD"):
        raw = b"{}"
    (call,) = run(github(), method, path, headers=JSON, body=raw).calls
    assert call.effect == github().actions[call.action]
    return call


def deployment(deployment_id: str) -> EnvLookup:
    params = (("deployment_id", deployment_id), ("owner", "acme"), ("repo", "app"))
    return EnvLookup(LookupCall("deploymentNode", params))


# --- REST: refs, protection, Actions, deployments, secrets ---------------------------


def test_deleting_a_branch_ref_is_destructive_and_reaches_the_repositorys_environments() -> None:
    call = rest("DELETE", "/repos/acme/app/git/refs/heads/feature/x")
    assert (call.action, call.effect) == ("ref:delete", "destructive")
    assert call.resources == REPO
    assert call.environments == (REPO_INVENTORY,)


@pytest.mark.parametrize(
    ("body", "action", "effect"),
    [
        ({"sha": "a" * 40, "force": True}, "ref:force-update", "destructive"),
        ({"sha": "a" * 40, "force": False}, "ref:update", "write"),
        ({"sha": "a" * 40}, "ref:update", "write"),
    ],
)
def test_a_force_push_through_patch_refs_is_told_apart_by_its_body(
    body: dict[str, Any], action: str, effect: str
) -> None:
    call = rest("PATCH", "/repos/acme/app/git/refs/heads/main", body)
    assert (call.action, call.effect) == (action, effect)
    assert call.environments == (REPO_INVENTORY,)


@pytest.mark.parametrize("force", ["true", 1, "1"])
def test_a_force_flag_a_lenient_server_could_read_as_true_is_a_force_update(force: object) -> None:
    call = rest("PATCH", "/repos/acme/app/git/refs/heads/main", {"sha": "a" * 40, "force": force})
    assert (call.action, call.effect) == ("ref:force-update", "destructive")


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [
        ("PUT", "/repos/acme/app/branches/main/protection", "branch-protection:write"),
        ("DELETE", "/repos/acme/app/branches/main/protection", "branch-protection:delete"),
        (
            "DELETE",
            "/repos/acme/app/branches/main/protection/required_signatures",
            "branch-protection:delete",
        ),
        ("POST", "/repos/acme/app/rulesets", "ruleset:write"),
        ("DELETE", "/repos/acme/app/rulesets/7", "ruleset:delete"),
        ("POST", "/repos/acme/app/keys", "deploy-key:create"),
        ("POST", "/repos/acme/app/hooks", "hook:write"),
        ("PUT", "/repos/acme/app/collaborators/mallory", "collaborator:write"),
        ("POST", "/repos/acme/app/transfer", "repo:transfer"),
        ("PUT", "/repos/acme/app/actions/secrets/DB_URL", "secret:write"),
        ("POST", "/repos/acme/app/actions/runners/registration-token", "runner:token-create"),
    ],
)
def test_protection_access_and_secrets_are_destructive(method: str, path: str, action: str) -> None:
    call = rest(method, path)
    assert (call.action, call.effect) == (action, "destructive")
    assert call.environments == (REPO_INVENTORY,)


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ({"description": "the app", "has_wiki": False}, "repo:write"),
        ({"name": "app-renamed"}, "repo:admin"),  # qualified environments follow the name
        ({"visibility": "public"}, "repo:admin"),
        ({"private": False}, "repo:admin"),
        ({"default_branch": "release"}, "repo:admin"),
        ({"archived": True}, "repo:admin"),
    ],
)
def test_renaming_or_exposing_a_repository_is_destructive(
    body: dict[str, Any], action: str
) -> None:
    call = rest("PATCH", "/repos/acme/app", body)
    assert call.action == action
    assert call.environments == (REPO_INVENTORY,)


def test_workflow_dispatch_reaches_what_the_repository_deploys() -> None:
    call = rest("POST", "/repos/acme/app/actions/workflows/deploy.yml/dispatches", {"ref": "main"})
    assert (call.action, call.effect) == ("workflow:dispatch", "write")
    assert call.environments == (REPO_INVENTORY,)


def test_approving_pending_deployments_is_destructive_over_the_repositorys_environments() -> None:
    body = {"environment_ids": [161171787], "state": "approved", "comment": "ship it"}
    call = rest("POST", "/repos/acme/app/actions/runs/42/pending_deployments", body)
    assert (call.action, call.effect) == ("deployment:review", "destructive")
    assert call.resources == ("repo:acme/app", "run:acme/app/42")
    lookup = LookupCall("environmentsOfRepository", (("repository", "acme/app"),))
    assert call.environments == (EnvLookup(lookup),)


def test_a_custom_gate_review_lands_in_the_environment_its_body_names() -> None:
    body = {"environment_name": "production", "state": "approved", "comment": "ok"}
    call = rest("POST", "/repos/acme/app/actions/runs/42/deployment_protection_rule", body)
    assert call.action == "deployment:review"
    assert call.environments == (EnvName("acme/app/production"),)


def test_a_deployment_status_that_re_targets_touches_both_environments() -> None:
    path = "/repos/acme/app/deployments/42/statuses"
    moved = rest("POST", path, {"state": "success", "environment": "production"})
    assert moved.action == "deployment:status"
    assert moved.environments == (deployment("42"), EnvName("acme/app/production"))
    stays = rest("POST", path, {"state": "success"})
    assert stays.environments == (deployment("42"),)


def test_environments_are_qualified_by_their_repository() -> None:
    call = rest("PUT", "/repos/acme/app/environments/staging/secrets/DB_URL")
    assert call.environments == (EnvName("acme/app/staging"),)
    other = rest("PUT", "/repos/other/app/environments/staging/secrets/DB_URL")
    assert other.environments == (EnvName("other/app/staging"),)
    made = rest("POST", "/repos/acme/app/deployments", {"ref": "main"})
    assert made.environments == (EnvName("acme/app/production"),)  # GitHub's own default


@pytest.mark.parametrize(
    ("path", "action", "env"),
    [
        ("/repos/acme/app/actions/secrets/public-key", "secret:read", UNSCOPED),
        (
            "/repos/acme/app/environments/staging/secrets/public-key",
            "secret:read",
            EnvName("acme/app/staging"),
        ),
        ("/repos/acme/app/commits/main/status", "commit:read", UNSCOPED),
        ("/repos/acme/app/commits/main/check-runs", "commit:read", UNSCOPED),
        ("/repos/acme/app/actions/runs/42/pending_deployments", "actions:read", UNSCOPED),
    ],
)
def test_reads_that_write_verbs_need_are_reads(path: str, action: str, env: object) -> None:
    call = rest("GET", path)
    assert (call.action, call.effect, call.environments) == (action, "read", (env,))


@pytest.mark.parametrize(
    ("method", "path", "reason"),
    [
        ("POST", "/user/keys", "adds an SSH key"),
        ("POST", "/app/installations/1/access_tokens", "the app's own JWT"),
        ("POST", "/repos/acme/app/releases/1/assets", "uploads.github.com"),
        ("POST", "/enterprises/acme/teams", "enterprise administration"),
    ],
)
def test_refused_by_name_with_the_reason(method: str, path: str, reason: str) -> None:
    with pytest.raises(BrokerError) as caught:
        run(github(), method, path, headers=JSON, body=b"{}")
    assert refusal_code(caught.value) == "route_refused"
    assert caught.value.status == 403
    assert reason in str(caught.value)


# --- GraphQL as gh sends it ----------------------------------------------------------

GH_CREATE_PR = """
mutation PullRequestCreate($input: CreatePullRequestInput!) {
  createPullRequest(input: $input) { pullRequest { id url } }
}"""
GH_REPO = """
query RepositoryInfo($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) { id name owner { login } defaultBranchRef { name } }
}"""
GH_MERGE = """
mutation PullRequestMerge($input: MergePullRequestInput!) {
  mergePullRequest(input: $input) { clientMutationId }
}"""


def test_gh_pr_create_is_an_unscoped_write_on_the_repository_node() -> None:
    variables = {
        "input": {
            "repositoryId": "R_kgDOabc",
            "baseRefName": "main",
            "headRefName": "feature",
            "title": "Fix",
            "body": "",
            "draft": False,
        }
    }
    (call,) = gql(github(), {"query": GH_CREATE_PR, "variables": variables}).calls
    assert (call.action, call.effect) == ("pull:create", "write")
    assert call.resources == ("repository-node:R_kgDOabc",)
    assert call.environments == (UNSCOPED,)


def test_gh_reads_the_repository_by_owner_and_name() -> None:
    payload = {"query": GH_REPO, "variables": {"owner": "acme", "name": "app"}}
    (call,) = gql(github(), payload).calls
    assert (call.action, call.resources, call.environments) == ("repo:read", REPO, (UNSCOPED,))


def test_gh_pr_merge_looks_the_repository_up_through_the_node_id() -> None:
    payload = {"query": GH_MERGE, "variables": {"input": {"pullRequestId": "PR_kwDOxyz"}}}
    (call,) = gql(github(), payload).calls
    assert call.action == "pull:merge"
    lookup = LookupCall("pullRequestRepository", (("id", "PR_kwDOxyz"),))
    assert call.environments == (EnvLookup(lookup),)


GH_COMMIT = """
mutation($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) { commit { url } }
}"""


def test_a_commit_on_a_branch_named_with_its_repository_uses_the_inventory() -> None:
    named = {"repositoryNameWithOwner": "acme/app", "branchName": "main"}
    variables = {"input": {"branch": named, "message": {"headline": "x"}, "expectedHeadOid": "a"}}
    (call,) = gql(github(), {"query": GH_COMMIT, "variables": variables}).calls
    assert call.action == "contents:write"
    assert call.environments == (REPO_INVENTORY,)
    variables["input"]["branch"] = {"id": "REF_kwDO1"}  # the branch by node id: looked up
    (call,) = gql(github(), {"query": GH_COMMIT, "variables": variables}).calls
    lookup = LookupCall("refRepository", (("id", "REF_kwDO1"),))
    assert call.environments == (EnvLookup(lookup),)


def test_typename_is_harmless() -> None:
    assert gql(github(), {"query": "{ __typename }"}).calls == ()
    query = "query { __typename viewer { login __typename } }"
    assert [c.action for c in gql(github(), {"query": query}).calls] == ["user:read"]


def test_graphql_mutations_refused_by_name() -> None:
    q = 'mutation { deleteEnvironment(input: {id: "EN_1"}) { clientMutationId } }'
    with pytest.raises(BrokerError) as caught:
        gql(github(), {"query": q})
    assert refusal_code(caught.value) == "route_refused"


# --- lookups -------------------------------------------------------------------------


def test_a_deployment_is_found_by_its_node_and_qualified_by_its_repository() -> None:
    node = github().lookups["deploymentNode"]
    req = node.request({"owner": "acme", "repo": "app", "deployment_id": "42"})
    assert (req.method, req.path) == ("GET", "/repos/acme/app/deployments/42")
    assert node.extract(200, {"node_id": "DE_kwDO1", "environment": "staging"}, {}) == ("DE_kwDO1",)
    env = github().lookups["deploymentEnvironment"]
    answer = {
        "data": {"node": {"environment": "production", "repository": {"nameWithOwner": "acme/app"}}}
    }
    assert env.extract(200, answer, {"id": "DE_kwDO1"}) == ("acme/app/production",)


def test_a_repositorys_environments_are_qualified_with_it() -> None:
    lookup = github().lookups["environmentsOfRepository"]
    req = lookup.request({"repository": "acme/app"})
    assert req.json is not None
    assert req.json["variables"]["url"] == "https://github.com/acme/app"
    answer = {
        "data": {
            "resource": {
                "environments": {
                    "pageInfo": {"hasNextPage": False, "endCursor": None},
                    "nodes": [{"name": "staging"}, {"name": "production"}],
                }
            }
        }
    }
    found = lookup.extract(200, answer, {"repository": "acme/app"})
    assert found == ("acme/app/staging", "acme/app/production")


# --- held against GitHub's published descriptions -------------------------------------


def test_every_operation_and_root_field_is_named_with_no_error() -> None:
    rest_report = check_route_map(github(), github_operations())
    graphql_report = check_route_map(github(), github_graphql())
    for report in (rest_report, graphql_report):
        assert report.gaps == ()
        assert report.errors == ()
        assert report.ok
    assert rest_report.coverage_of("state-changing").named == 480
    assert rest_report.coverage_of("DELETE").named == 158
    assert rest_report.coverage_of("all").named == len(github_operations()["operations"])
    assert graphql_report.coverage_of("mutation").named == 247
    assert graphql_report.coverage_of("query").named == 31


def test_the_octokit_route_list_is_trimmed_as_the_readme_says() -> None:
    trim = load_schema_module("trim_endpoints")
    text = (
        "const Endpoints = {\n"
        "  git: {\n"
        '    deleteRef: ["DELETE /repos/{owner}/{repo}/git/refs/{ref}"],\n'
        '    oldName: ["GET /repos/{owner}/{repo}/git/refs/{ref}", {}, '
        '{ renamed: ["git", "getRef"] }],\n'
        "  },\n"
        '  repos: { deleteCache: ["DELETE /repos/{owner}/{repo}/caches{?key,ref}"] },\n'
        "};\n"
    )
    older = {("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}"): {"body_properties": []}}
    ops = trim.operations(text, older)
    assert [(o["method"], o["path"], o["operationId"]) for o in ops] == [
        ("DELETE", "/repos/{owner}/{repo}/caches", "repos/deleteCache"),
        ("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}", "git/deleteRef"),
    ]
    assert ops[0]["query_parameters"] == ["key", "ref"]
    assert "body_properties" not in ops[0]  # unknown, not empty
    assert ops[1]["body_properties"] == []
