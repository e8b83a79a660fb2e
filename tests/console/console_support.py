"""Helpers for the console tests: a held call, and logging in with httpx."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx

from tests.support.stack import Stack


@dataclass
class Console:
    stack: Stack
    url: str
    admin: str = field(repr=False)
    admin_id: str


DELETE = (
    'mutation($n: String!) { variableDelete(environmentId: "env-staging", '
    'serviceId: "svc-api", name: $n) }'
)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def held_call(stack: Stack, name: str = "DATABASE_URL") -> tuple[str, str]:
    """A fresh token whose destructive call the gateway holds: (token, approval id)."""
    token = stack.token()
    r = stack.call(token, DELETE, {"n": name})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "approval_required"
    return token, str(r.json()["approval_id"])


def retry(stack: Stack, token: str, approval: str, name: str = "DATABASE_URL") -> httpx.Response:
    return stack.call(token, DELETE, {"n": name}, headers={"X-Capbroker-Approval": approval})


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def login(client: httpx.Client, credential: str) -> httpx.Response:
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post(
        "/console/login", data={"csrf": csrf_of(form.text), "credential": credential}
    )


def logged_in(url: str, credential: str) -> tuple[httpx.Client, str]:
    """A client with a console session, and the session's CSRF token."""
    client = httpx.Client(base_url=url, timeout=10)
    r = login(client, credential)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/approvals"
    page = client.get("/console/approvals")
    assert page.status_code == 200
    return client, csrf_of(page.text)
