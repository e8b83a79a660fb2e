"""Property: with a read-only staging token, whatever GraphQL the agent builds from the demo
schema's root fields (aliases, named and inline fragments, several operations, batches), a
200 means every root field was a granted read, and the provider never executes a mutation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.gateway.gateway_support import agent_fields_executed
from tests.support.stack import PROVIDER, Stack

READ_ACTIONS = (
    "project:read",
    "environment:read",
    "service:read",
    "deployment:read",
    "variable:read",
    "volume:read",
    "backup:read",
)
ENVS = ("env-staging", "env-production")
VOLUMES = ("vol-pg", "vol-cache")
# root field -> (argument choices, sub-selection); the demo schema's every root field
QUERY_FIELDS: dict[str, tuple[dict[str, tuple[str, ...]], str]] = {
    "projects": ({}, "{ id }"),
    "project": ({"id": ("proj-acme",)}, "{ id }"),
    "environments": ({"projectId": ("proj-acme",)}, "{ id name }"),
    "environment": ({"id": ENVS}, "{ name }"),
    "services": ({"projectId": ("proj-acme",)}, "{ id }"),
    "deployment": ({"id": ("dep-api-staging", "dep-api-production")}, "{ id }"),
    "deployments": ({"environmentId": ENVS}, "{ id }"),
    "variables": ({"environmentId": ENVS, "serviceId": ("svc-api",)}, "{ name }"),
    "volume": ({"id": VOLUMES}, "{ id }"),
    "volumes": ({"projectId": ("proj-acme",)}, "{ id }"),
    "volumeBackups": ({"volumeId": VOLUMES}, "{ id }"),
}
MUTATION_FIELDS: dict[str, tuple[dict[str, tuple[str, ...]], str]] = {
    "deploymentRedeploy": ({"environmentId": ENVS, "serviceId": ("svc-api",)}, "{ id }"),
    "deploymentRollback": ({"id": ("dep-api-staging",)}, "{ id }"),
    "variableUpsert": (
        {"environmentId": ENVS, "serviceId": ("svc-api",), "name": ("X",), "value": ("1",)},
        "{ name }",
    ),
    "variableDelete": (
        {"environmentId": ENVS, "serviceId": ("svc-api",), "name": ("LOG_LEVEL",)},
        "",
    ),
    "volumeDelete": ({"volumeId": VOLUMES}, ""),
    "volumeBackupCreate": ({"volumeId": VOLUMES}, "{ id }"),
    "volumeBackupDelete": ({"backupId": ("bkp-pg-1", "bkp-pg-2")}, ""),
    "volumeBackupRestore": ({"backupId": ("bkp-pg-2",)}, ""),
}
ROOT_TYPE = {"query": "Query", "mutation": "Mutation"}


@dataclass
class Op:
    kind: str  # query | mutation
    name: str | None
    text: str  # the operation, fragments appended by the document
    fragments: list[str]
    fields: list[str]  # root field names (not aliases), fragments included


@st.composite
def field_text(draw: st.DrawFn, kind: str) -> tuple[str, str]:
    table = QUERY_FIELDS if kind == "query" else MUTATION_FIELDS
    name = draw(st.sampled_from(sorted(table)))
    choices, selection = table[name]
    args = ", ".join(f'{a}: "{draw(st.sampled_from(v))}"' for a, v in choices.items())
    alias = draw(st.sampled_from(["", "a1: ", "projects: ", "harmless: ", "services: "]))
    text = f"{alias}{name}" + (f"({args})" if args else "") + (f" {selection}" if selection else "")
    return name, text


@st.composite
def operation(draw: st.DrawFn, index: int, named: bool) -> Op:
    kind = draw(st.sampled_from(["query", "query", "mutation"]))
    items: list[str] = []
    fragments: list[str] = []
    names: list[str] = []
    for j in range(draw(st.integers(1, 3))):
        name, text = draw(field_text(kind))
        names.append(name)
        wrap = draw(st.sampled_from(["plain", "inline", "typed-inline", "fragment"]))
        if wrap == "inline":
            text = "... { " + text + " }"
        elif wrap == "typed-inline":
            text = f"... on {ROOT_TYPE[kind]} {{ {text} }}"
        elif wrap == "fragment":
            fragment = f"F{index}x{j}"
            fragments.append(f"fragment {fragment} on {ROOT_TYPE[kind]} {{ {text} }}")
            text = f"...{fragment}"
        items.append(text)
    op_name = f"Op{index}" if named else None
    head = kind + (f" {op_name}" if op_name else "")
    return Op(kind, op_name, f"{head} {{ {' '.join(items)} }}", fragments, names)


@st.composite
def graphql_entry(draw: st.DrawFn) -> tuple[dict[str, Any], list[Op]]:
    count = draw(st.integers(1, 3))
    named_alone: bool = draw(st.booleans())
    ops = [draw(operation(i, named=count > 1 or named_alone)) for i in range(count)]
    query = " ".join([op.text for op in ops] + [f for op in ops for f in op.fragments])
    entry: dict[str, Any] = {"query": query}
    named = [op.name for op in ops if op.name]
    give_name: bool = draw(st.booleans())
    if named and give_name:
        entry["operationName"] = draw(st.sampled_from(named))
    return entry, ops


@st.composite
def graphql_request(draw: st.DrawFn) -> tuple[object, list[Op]]:
    entries = draw(st.lists(graphql_entry(), min_size=1, max_size=3))
    ops = [op for _, entry_ops in entries for op in entry_ops]
    if len(entries) == 1 and draw(st.booleans()):
        return entries[0][0], ops
    return [entry for entry, _ in entries], ops


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=graphql_request())
def test_a_read_only_token_only_ever_reads(
    shared_stack: Stack, request: tuple[object, list[Op]]
) -> None:
    body, ops = request
    stack = shared_stack
    stack.reset_provider()
    token = stack.token(actions=READ_ACTIONS)
    r = httpx.post(
        f"{stack.url}/{PROVIDER}/graphql",
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    log = stack.upstream_log()
    event(f"status {r.status_code}")  # --hypothesis-show-statistics shows the mix
    # whatever the answer, the provider executed reads only (look-ups are reads too)
    for entry in log:
        for op in entry["operations"]:
            if op["executed"]:
                assert op["type"] == "query", entry
                assert set(op["root_fields"]) <= set(QUERY_FIELDS), entry
    if r.status_code == 200:
        assert all(op.kind == "query" for op in ops), (body, r.text[:300])
        assert all(f in QUERY_FIELDS for op in ops for f in op.fields)
    elif r.headers.get("content-type") == "application/problem+json":
        assert agent_fields_executed(log) == [], (body, r.text[:300], log)
    else:  # allowed, then refused by the provider itself (e.g. GraphQL validation)
        assert all(op.kind == "query" for op in ops), (body, r.text[:300])


def test_the_generator_reaches_both_outcomes(shared_stack: Stack) -> None:
    """A read the token allows goes through, a mutation it does not is refused."""
    token = shared_stack.token(actions=READ_ACTIONS)
    read = shared_stack.call(
        token, 'query { ... on Query { s: services(projectId: "proj-acme") { id } } }'
    )
    assert read.status_code == 200, read.text
    write = shared_stack.call(
        token,
        "mutation { ...W } fragment W on Mutation { projects: deploymentRedeploy("
        'environmentId: "env-staging", serviceId: "svc-api") { id } }',
    )
    assert write.status_code == 403, write.text
    assert write.json()["code"] == "verb_not_granted"
