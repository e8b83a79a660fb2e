"""The gateway in front of a GitHub stand-in with the shipped ``github`` map, over sockets.

The stand-in answers the map's look-ups the way GitHub does (a deployment by id over
REST, ``node(id:)`` and ``resource(url:)`` over GraphQL) and logs every request it is
sent, so each refusal is checked where it matters: the call never reached GitHub.
The token is for ``acme/app/staging`` only; the admin's inventory says acme/app's code
deploys to staging (GitHub itself lists staging and production for it).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker.demo.provider.server import ServerThread
from broker.demo.world import Principal, Seed, provider_route, serve_gateway
from broker.domain.grants import GrantRequest
from broker.manifests import parse_manifest
from tests.support.echo_upstream import Receive, Scope, Send, read_body
from tests.support.factories import template_doc
from tests.support.world import broker_settings, seeded_world

STAGING = "acme/app/staging"
TEMPLATE = template_doc(
    "gh-staging",
    provider="github",
    environments=[STAGING],
    actions=["deployment:*", "pull:*", "ref:update", "repo:read", "variable:*"],
    ttl={"default": "10m", "max": "30m"},
    agents=["claude-*"],
    budgets={"calls": 100},
)
INVENTORY = {"repo:acme/app": (STAGING,)}


@dataclass
class FakeGitHub:
    """Deployment 42 (node DE_42) is in staging; PR_7 belongs to acme/app."""

    key: str = field(repr=False)
    log: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        entry = {"method": scope["method"], "path": scope["path"], "body": body}
        entry["keyed"] = headers.get("authorization") == f"Bearer {self.key}"
        self.log.append(entry)
        status, answer = self.answer(scope["method"], scope["path"], body)
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "GET" and path == "/repos/acme/app/deployments/42":
            return 200, {"id": 42, "node_id": "DE_42", "environment": "staging"}
        if path != "/graphql":
            return (201 if method == "POST" else 200), {"ok": True}
        query = json.loads(body)["query"]
        repo = {"nameWithOwner": "acme/app"}
        if "on Deployment" in query:
            return 200, {"data": {"node": {"environment": "staging", "repository": repo}}}
        if "on PullRequest" in query:
            return 200, {"data": {"node": {"repository": repo}}}
        if "resource(url:" in query:
            nodes = [{"name": "staging"}, {"name": "production"}]
            page = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": nodes}
            return 200, {"data": {"resource": {"environments": page}}}
        return 200, {"data": {"createPullRequest": {"pullRequest": {"id": "PR_8", "url": "u"}}}}

    def calls(self) -> list[tuple[str, str]]:
        return [(e["method"], e["path"]) for e in self.log]


@dataclass
class GitHubStack:
    url: str
    github: FakeGitHub
    token: str = field(repr=False)

    def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}/github{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubStack]:
    key = secrets.token_urlsafe(24)
    seed = Seed(
        manifests=[parse_manifest(TEMPLATE, "gh#1")],
        provider_keys={"github": key},
        principals=[Principal("agent", "claude-code")],
    )
    world = seeded_world(broker_settings(tmp_path, f"sqlite:///{tmp_path}/b.db"), seed)
    fake = FakeGitHub(key)
    upstream = ServerThread(fake).start()
    route = provider_route("github", upstream.url)
    route.inventory.update(INVENTORY)
    gateway, server = serve_gateway(
        world.services.settings, {"github": route}, jwks=world.services.keys.jwks, poll_interval=0.2
    )
    issued = world.services.issuance.issue(
        world.credential("claude-code"), GrantRequest("gh-staging", STAGING)
    )
    try:
        yield GitHubStack(server.url, fake, issued.access_token)
    finally:
        server.stop()
        upstream.stop()
        gateway.store.db.engine.dispose()
        world.services.close()


def refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == reason, response.text


def test_a_status_that_re_targets_the_deployment_to_production_never_reaches_github(
    gh: GitHubStack,
) -> None:
    path = "/repos/acme/app/deployments/42/statuses"
    refused(
        gh.send("POST", path, {"state": "success", "environment": "production"}),
        "environment_not_granted",
    )
    # GitHub saw the gateway's two look-ups (with the master key), never the status
    assert gh.github.calls() == [("GET", "/repos/acme/app/deployments/42"), ("POST", "/graphql")]
    assert all(e["keyed"] for e in gh.github.log)
    ok = gh.send("POST", path, {"state": "success"})
    assert ok.status_code == 201, ok.text
    assert gh.github.calls()[-1] == ("POST", path)


def test_another_repositorys_staging_is_not_this_tokens_staging(gh: GitHubStack) -> None:
    path = "/repos/other/app/environments/staging/variables"
    refused(gh.send("POST", path, {"name": "X", "value": "1"}), "environment_not_granted")
    assert gh.github.log == []
    mine = gh.send(
        "POST", "/repos/acme/app/environments/staging/variables", {"name": "X", "value": "1"}
    )
    assert mine.status_code == 201, mine.text


def test_a_force_push_needs_its_own_verb(gh: GitHubStack) -> None:
    path = "/repos/acme/app/git/refs/heads/main"
    forced = gh.send("PATCH", path, {"sha": "a" * 40, "force": True})
    refused(forced, "verb_not_granted")  # ref:force-update, which the template lacks
    assert gh.github.log == []
    plain = gh.send("PATCH", path, {"sha": "a" * 40})
    assert plain.status_code == 200, plain.text
    assert gh.github.calls() == [("PATCH", path)]


def test_gh_pr_create_goes_through_and_gh_pr_merge_is_placed_by_the_pull_requests_repository(
    gh: GitHubStack,
) -> None:
    create = (
        "mutation PullRequestCreate($input: CreatePullRequestInput!) "
        "{ createPullRequest(input: $input) { pullRequest { id url } } }"
    )
    variables = {
        "input": {"repositoryId": "R_1", "baseRefName": "main", "headRefName": "f", "title": "t"}
    }
    made = gh.send("POST", "/graphql", {"query": create, "variables": variables})
    assert made.status_code == 200, made.text
    assert gh.github.calls() == [("POST", "/graphql")]
    assert b"createPullRequest" in gh.github.log[0]["body"]
    merge = (
        "mutation($i: MergePullRequestInput!) { mergePullRequest(input: $i) { clientMutationId } }"
    )
    answer = gh.send(
        "POST", "/graphql", {"query": merge, "variables": {"i": {"pullRequestId": "PR_7"}}}
    )
    refused(answer, "environment_not_granted")  # GitHub lists production for acme/app too
    sent = [e["body"] for e in gh.github.log[1:]]
    assert len(sent) == 2  # the pull request's repository, then its environments
    assert not any(b"mergePullRequest" in b for b in sent)
