"""Who is calling, and what they may see: plain values in, a decision out (no I/O).

Tokens, as on the real API (the Railway CLI's ``src/client.rs`` sends exactly these):

- ``Authorization: Bearer <token>``: an account token (everything in the user's workspaces)
  or a workspace token (everything in one workspace; no ``me``);
- ``Project-Access-Token: <token>``: a project token, scoped to one project and ONE
  environment of it. When this header is present it is the credential, whatever
  ``Authorization`` says (the CLI's precedence).

A project token sees its project and its project's project-level objects (services,
volumes), and of everything that lives in an environment (the environment itself, its
variables, deployments, volume instances and their backups) only its own environment's.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from broker.demo.railway.errors import NotAuthorized
from broker.demo.railway.records import Environment, Project, TokenGrant
from broker.demo.railway.seed import token_hash

Presented = Literal["ok", "missing", "invalid"]


@dataclass(frozen=True)
class Access:
    """A valid token's reach. ``workspace_ids`` is what an account's user belongs to."""

    grant: TokenGrant
    workspace_ids: frozenset[str]

    def sees_workspace(self, workspace_id: str) -> bool:
        return self.grant.kind != "project" and workspace_id in self.workspace_ids

    def sees_project(self, project: Project) -> bool:
        if self.grant.kind == "project":
            return project.id == self.grant.project_id
        return project.workspace_id in self.workspace_ids

    def sees_environment(self, environment: Environment, project: Project) -> bool:
        if not self.sees_project(project):
            return False
        return self.grant.kind != "project" or environment.id == self.grant.environment_id

    def require_account_or_workspace(self) -> None:
        """Token management, environments and account data: not for project tokens."""
        if self.grant.kind == "project":
            raise NotAuthorized()


def credential(headers: Mapping[str, str]) -> str | None:
    """The token the request presents (``headers`` keyed in lower case), or None."""
    project_token = headers.get("project-access-token")
    if project_token is not None:
        return project_token.strip()
    authorization = headers.get("authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def authenticate(
    token: str | None,
    grants: Mapping[str, TokenGrant],
    user_workspaces: Mapping[str, tuple[str, ...]],
) -> tuple[Presented, Access | None]:
    """Look the token up by its hash; ``user_workspaces`` maps user id -> workspace ids."""
    if token is None:
        return "missing", None
    if not token:
        return "invalid", None
    digest = token_hash(token)
    # Compare every stored hash in constant time rather than a dict lookup on the digest.
    grant = next((g for h, g in grants.items() if hmac.compare_digest(h, digest)), None)
    if grant is None:
        return "invalid", None
    if grant.kind == "account":
        workspaces = frozenset(user_workspaces.get(grant.user_id or "", ()))
    else:
        workspaces = frozenset({grant.workspace_id} if grant.workspace_id else ())
    return "ok", Access(grant, workspaces)
