"""REST classification with the shipped GitHub map."""

from __future__ import annotations

import json

import pytest

from broker.errors import BrokerError
from broker.routemap import UNSCOPED, EnvInventory, EnvLookup, EnvName, LookupCall, refusal_code

from .support import github, run

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "action", "resources", "env"),
    [
        ("GET", "/repos/acme/app", "repo:read", ("repo:acme/app",), UNSCOPED),
        ("HEAD", "/repos/acme/app", "repo:read", ("repo:acme/app",), UNSCOPED),
        (
            "DELETE",
            "/repos/acme/app",
            "repo:delete",
            ("repo:acme/app",),
            EnvInventory("repo:acme/app"),
        ),
        ("GET", "/repos/acme/app/contents/a/b/c.md", "contents:read", ("repo:acme/app",), UNSCOPED),
        ("GET", "/repos/acme/app/pulls/", "pull:read", ("repo:acme/app",), UNSCOPED),
        (
            "DELETE",
            "/repos/acme/app/contents/x.md",
            "contents:delete",
            ("repo:acme/app",),
            EnvInventory("repo:acme/app"),
        ),
        (
            "PUT",
            "/repos/acme/app/pulls/7/merge",
            "pull:merge",
            ("repo:acme/app",),
            EnvInventory("repo:acme/app"),
        ),
        ("GET", "/repos/acme/app/branches/feature/x", "branch:read", ("repo:acme/app",), UNSCOPED),
        (
            "DELETE",
            "/repos/acme/app/environments/production",
            "environment:delete",
            ("environment:acme/app/production",),
            EnvName("acme/app/production"),
        ),
        (
            "PUT",
            "/repos/acme/app/environments/staging/secrets/DB_URL",
            "secret:write",
            ("environment:acme/app/staging",),
            EnvName("acme/app/staging"),
        ),
        (
            "DELETE",
            "/repos/acme/app/deployments/42",
            "deployment:delete",
            ("deployment:acme/app/42",),
            EnvLookup(
                LookupCall(
                    "deploymentNode",
                    (("deployment_id", "42"), ("owner", "acme"), ("repo", "app")),
                )
            ),
        ),
    ],
)
def test_examples(
    method: str, path: str, action: str, resources: tuple[str, ...], env: object
) -> None:
    result = run(
        github(), method, path, headers=JSON, body=b"" if method in ("GET", "HEAD") else b"{}"
    )
    (call,) = result.calls
    assert (call.action, call.resources, call.environments) == (action, resources, (env,))
    assert call.effect == github().actions[action]


def test_deployment_environment_comes_from_the_body() -> None:
    body = json.dumps({"ref": "main", "environment": "staging"}).encode()
    (call,) = run(github(), "POST", "/repos/acme/app/deployments", headers=JSON, body=body).calls
    assert call.environments == (EnvName("acme/app/staging"),)
    (call,) = run(
        github(), "POST", "/repos/acme/app/deployments", headers=JSON, body=b'{"ref":"x"}'
    ).calls
    assert call.environments == (EnvName("acme/app/production"),)  # GitHub's own default


def test_unknown_route() -> None:
    with pytest.raises(BrokerError) as caught:
        run(github(), "GET", "/repos/acme/app/no-such-endpoint")
    assert refusal_code(caught.value) == "unknown_route"
    assert caught.value.status == 403
