"""The github map's look-ups as the resolver runs them, against an upstream that answers
like GitHub (REST for a deployment, GraphQL ``node(id:)`` for what it belongs to)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from broker.gateway.resolve import EnvironmentResolver
from broker.routemap.lookups import LookupRequest
from broker.routemap.model import Call
from tests.routemap.support import github, gql, run

JSON = {"Content-Type": "application/json"}


class GitHub:
    """Deployment 42 of acme/app (node DE_42) is in ``staging``; PR_7 is acme/app's."""

    def __init__(self) -> None:
        self.sent: list[LookupRequest] = []
        self.environment = "staging"

    async def fetch(self, request: LookupRequest) -> tuple[int, object]:
        self.sent.append(request)
        if request.method == "GET":
            if request.path == "/repos/acme/app/deployments/42":
                return 200, {"id": 42, "node_id": "DE_42", "environment": self.environment}
            return 404, {"message": "Not Found"}
        assert request.json is not None
        query, variables = request.json["query"], request.json["variables"]
        if "on Deployment" in query and variables["id"] == "DE_42":
            repository = {"nameWithOwner": "acme/app"}
            return 200, {
                "data": {"node": {"environment": self.environment, "repository": repository}}
            }
        if "on PullRequest" in query and variables["id"] == "PR_7":
            return 200, {"data": {"node": {"repository": {"nameWithOwner": "acme/app"}}}}
        if "resource(url:" in query and variables["url"] == "https://github.com/acme/app":
            nodes = [{"name": "staging"}, {"name": "production"}]
            page = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": nodes}
            return 200, {"data": {"resource": {"environments": page}}}
        return 200, {"data": {"node": None}}


def resolver(upstream: GitHub) -> EnvironmentResolver:
    return EnvironmentResolver(github(), upstream.fetch, clock=lambda: 0.0)


def status_call(body: dict[str, Any]) -> Call:
    raw = json.dumps(body).encode()
    path = "/repos/acme/app/deployments/42/statuses"
    (call,) = run(github(), "POST", path, headers=JSON, body=raw).calls
    return call


def test_a_re_targeting_status_touches_the_deployments_environment_and_the_new_one() -> None:
    up = GitHub()
    found = asyncio.run(
        resolver(up).resolve(status_call({"state": "success", "environment": "production"}))
    )
    assert found == frozenset({"acme/app/staging", "acme/app/production"})
    assert [r.method for r in up.sent] == ["GET", "POST"]  # the deployment, then its node


def test_a_deployments_node_is_cached_but_its_environment_is_asked_again_for_writes() -> None:
    up = GitHub()
    r = resolver(up)
    call = status_call({"state": "success"})
    assert asyncio.run(r.resolve(call)) == frozenset({"acme/app/staging"})
    up.environment = "production"  # re-targeted by someone else meanwhile
    assert asyncio.run(r.resolve(call)) == frozenset({"acme/app/production"})
    # the REST look-up (deployment -> node id, immutable) went out once, the node twice
    assert [r.method for r in up.sent] == ["GET", "POST", "POST"]


def test_gh_pr_merge_reaches_every_environment_of_the_pull_requests_repository() -> None:
    query = (
        "mutation($i: MergePullRequestInput!) { mergePullRequest(input: $i) { clientMutationId } }"
    )
    (call,) = gql(github(), {"query": query, "variables": {"i": {"pullRequestId": "PR_7"}}}).calls
    found = asyncio.run(resolver(GitHub()).resolve(call))
    assert found == frozenset({"acme/app/staging", "acme/app/production"})
