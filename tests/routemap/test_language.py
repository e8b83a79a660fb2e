"""The route-map constructs real providers need (docs/route-maps.md, issue 13):
refusal by name, list resources, verbs chosen by values, fallback sources, nested
fields, relation checks, and the compiler's cross-field rules for each."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from broker.errors import BrokerError
from broker.manifests.errors import ManifestError
from broker.routemap import RouteMap, parse_route_map, refusal_code
from broker.routemap.model import EnvById, EnvLookup, EnvName, Unresolvable

from .support import gql, run

MAP: dict[str, Any] = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "RouteMap",
    "metadata": {"name": "lang"},
    "spec": {
        "provider": "lang",
        "upstream": "http://127.0.0.1:1",
        "auth": {
            "header": "Authorization",
            "format": "Bearer {key}",
            "alternatives": {
                "project-token": {"header": "Project-Access-Token", "format": "{key}"}
            },
        },
        "environments": {"qualified_by": "project", "parts": 2},
        "actions": {
            "environment:read": {"effect": "read"},
            "variable:read": {"effect": "read"},
            "variable:write": {"effect": "write"},
            "variable:replace": {"effect": "destructive"},
            "service:delete": {"effect": "destructive"},
            "backup:delete": {"effect": "destructive"},
            "backup:schedule": {"effect": "write"},
            "backup:disable": {"effect": "destructive"},
            "repo:write": {"effect": "write"},
        },
        "environment_ids": {"lookup": "environmentName"},
        "lookups": {
            "environmentName": {
                "graphql": "query($id: String!) { environment(id: $id) { name projectId } }",
                "variables": {"id": "{id}"},
                "result": "data.environment",
                "format": "{projectId}/{name}",
                "cache": "immutable",
            },
            "serviceEnvironments": {
                "graphql": "query($id: String!) { service(id: $id) { envs { name projectId } } }",
                "variables": {"id": "{serviceId}"},
                "result": "data.service.envs[*]",
                "format": "{projectId}/{name}",
            },
            "instanceBackups": {
                "graphql": "query($id: String!) { backups(id: $id) { id } }",
                "variables": {"id": "{instanceId}"},
                "result": "data.backups[*].id",
            },
        },
        "graphql": {
            "endpoint": "/graphql",
            "nested": {
                "variables": {
                    "action": "variable:read",
                    "environment": {"environment_id": "{here.environmentId}"},
                },
                "secrets": {"refuse": "returns every environment's secrets"},
            },
            "operations": {
                "query": {
                    "environment": {
                        "action": "environment:read",
                        "environment": {"environment_id": "{args.id}"},
                        "nested": {
                            "config": {
                                "action": "environment:read",
                                "when": [
                                    {
                                        "if": {"here.decryptVariables": True},
                                        "action": "variable:read",
                                    }
                                ],
                                "environment": {"environment_id": "{args.id}"},
                            }
                        },
                    },
                    "projects": {
                        "action": "environment:read",
                        "environment": {"unscoped": True},
                    },
                },
                "mutation": {
                    "apiTokenCreate": {"refuse": "creates an account token"},
                    "variableCollectionUpsert": {
                        "action": "variable:write",
                        "resources": ["service:{args.input.serviceId}"],
                        "when": [
                            {"if": {"args.input.replace": True}, "action": "variable:replace"}
                        ],
                        "environment": {"environment_id": "{args.input.environmentId}"},
                    },
                    "serviceDelete": {
                        "action": "service:delete",
                        "resources": ["service:{args.id}"],
                        "environment": {
                            "first": [
                                {"environment_id": "{args.environmentId}"},
                                {
                                    "lookup": "serviceEnvironments",
                                    "with": {"serviceId": "{args.id}"},
                                },
                            ]
                        },
                    },
                    "deploymentsWipe": {
                        "action": "service:delete",
                        "resources": ["service:{args.input.wipeServiceIds[*]}"],
                        "environment": {"unresolvable": True, "why": "no environment is named"},
                    },
                    "backupScheduleUpdate": {
                        "action": "backup:schedule",
                        "when": [{"if": {"args.kinds": []}, "action": "backup:disable"}],
                        "environment": {"environment_id": "{args.environmentId}"},
                    },
                    "backupDelete": {
                        "action": "backup:delete",
                        "resources": ["backup:{args.backupId}"],
                        "environment": {"environment_id": "{args.environmentId}"},
                        "checks": [
                            {
                                "lookup": "instanceBackups",
                                "with": {"instanceId": "{args.instanceId}"},
                                "contains": "{args.backupId}",
                                "reason": "the backup must belong to the instance named",
                            }
                        ],
                    },
                },
            },
        },
        "rest": [
            {"method": "PUT", "path": "/repos/{owner}/{repo}/transfer", "refuse": "hands it away"},
            {
                "method": "PATCH",
                "path": "/repos/{owner}/{repo}/git/refs/{ref+}",
                "action": "repo:write",
                "resources": ["repo:{owner}/{repo}"],
                "when": [{"if": {"body.force": True}, "action": "backup:disable"}],
                "environment": {"name": "{owner}/{body.environment|main}"},
                "body": {"fields": ["sha", "force", "environment"]},
            },
        ],
    },
}


def lang(**changes: Any) -> RouteMap:
    doc = copy.deepcopy(MAP)
    doc["spec"].update(changes)
    return parse_route_map(doc, "lang.yaml")


LANG = lang()


def code(exc: pytest.ExceptionInfo[BrokerError]) -> str:
    return refusal_code(exc.value)


def one(query: str, variables: dict[str, Any] | None = None) -> list[tuple[str, str, Any]]:
    c = gql(LANG, {"query": query, "variables": variables or {}})
    return [(f.field, f.call.action, f.call.environments) for f in c.fields]


# --- refusal by name ---------------------------------------------------------------------


def test_a_refused_field_answers_route_refused_with_its_reason() -> None:
    with pytest.raises(BrokerError) as caught:
        gql(LANG, {"query": "mutation { t: apiTokenCreate(input: {}) }"})
    assert code(caught) == "route_refused"
    assert "creates an account token" in caught.value.detail
    assert caught.value.status == 403


def test_a_refused_field_inside_a_batch_refuses_the_batch() -> None:
    ok = {"query": "{ projects { id } }"}
    with pytest.raises(BrokerError) as caught:
        gql(LANG, [ok, {"query": "mutation { apiTokenCreate }"}])
    assert code(caught) == "route_refused"


def test_a_refused_rest_rule_answers_route_refused() -> None:
    with pytest.raises(BrokerError) as caught:
        run(LANG, "PUT", "/repos/o/r/transfer", headers={"Content-Type": "application/json"})
    assert code(caught) == "route_refused"
    assert "hands it away" in caught.value.detail


# --- values choose the verb --------------------------------------------------------------


@pytest.mark.parametrize(
    ("replace", "action"),
    [("true", "variable:replace"), ("false", "variable:write"), (None, "variable:write")],
)
def test_replace_true_makes_a_variable_upsert_destructive(replace: str | None, action: str) -> None:
    extra = f", replace: {replace}" if replace else ""
    fields = f'serviceId: "s", environmentId: "e"{extra}'
    q = f"mutation {{ variableCollectionUpsert(input: {{{fields}}}) }}"
    ((_, found, _),) = one(q)
    assert found == action


def test_a_variable_cannot_disguise_replace() -> None:
    q = (
        "mutation($r: Boolean) { variableCollectionUpsert("
        'input: {serviceId: "s", environmentId: "e", replace: $r}) }'
    )
    ((_, found, _),) = one(q, {"r": True})
    assert found == "variable:replace"


@pytest.mark.parametrize(
    ("kinds", "action"), [("[]", "backup:disable"), ("[DAILY]", "backup:schedule")]
)
def test_an_empty_kinds_list_disables_backups(kinds: str, action: str) -> None:
    ((_, found, _),) = one(
        f'mutation {{ backupScheduleUpdate(environmentId: "e", kinds: {kinds}) }}'
    )
    assert found == action


def test_rest_body_values_choose_the_verb_and_move_the_environment() -> None:
    headers = {"Content-Type": "application/json"}
    c = run(
        LANG,
        "PATCH",
        "/repos/o/r/git/refs/heads/main",
        headers=headers,
        body=b'{"force": true, "environment": "prod"}',
    )
    assert c.calls[0].action == "backup:disable"
    assert c.calls[0].environments == (EnvName("o/prod"),)
    c = run(LANG, "PATCH", "/repos/o/r/git/refs/heads/main", headers=headers, body=b'{"force": 1}')
    assert c.calls[0].action == "repo:write"  # JSON equality: 1 is not true
    assert c.calls[0].environments == (EnvName("o/main"),)


# --- sources with a fallback, list resources, unresolvable -----------------------------


def test_first_uses_the_environment_given_else_every_environment_of_the_service() -> None:
    ((_, _, envs),) = one('mutation { serviceDelete(id: "s1", environmentId: "e1") }')
    assert isinstance(envs[0], EnvById)
    assert envs[0].environment_id == "e1"
    ((_, _, envs),) = one('mutation { serviceDelete(id: "s1") }')
    assert isinstance(envs[0], EnvLookup)
    assert envs[0].lookup.params == (("serviceId", "s1"),)
    ((_, _, envs),) = one('mutation { serviceDelete(id: "s1", environmentId: null) }')
    assert isinstance(envs[0], EnvLookup)


def test_a_list_argument_gives_one_resource_per_element() -> None:
    c = gql(
        LANG, {"query": 'mutation { deploymentsWipe(input: {wipeServiceIds: ["a", "b", "a"]}) }'}
    )
    assert c.calls[0].resources == ("service:a", "service:b")
    assert c.calls[0].environments == (Unresolvable("no environment is named"),)


@pytest.mark.parametrize("ids", ['"a"', "[{x: 1}]", '[["a"]]'])
def test_list_resources_refuse_what_is_no_list_of_scalars(ids: str) -> None:
    with pytest.raises(BrokerError) as caught:
        gql(LANG, {"query": f"mutation {{ deploymentsWipe(input: {{wipeServiceIds: {ids}}}) }}"})
    assert code(caught) == "bad_value"


def test_list_resources_are_capped() -> None:
    ids = ", ".join(f'"s{i}"' for i in range(101))
    with pytest.raises(BrokerError) as caught:
        gql(LANG, {"query": f"mutation {{ deploymentsWipe(input: {{wipeServiceIds: [{ids}]}}) }}"})
    assert code(caught) == "bad_value"


# --- nested fields -----------------------------------------------------------------------


def test_nested_secrets_are_classified_at_any_depth_through_fragments_and_aliases() -> None:
    q = """
    query { projects { edges { node { ...E } } } }
    fragment E on Project { environments { edges { node {
      v: variables(environmentId: "e9") { edges { node { name } } } } } } }
    """
    calls = one(q)
    assert [(f, a) for f, a, _ in calls] == [
        ("projects", "environment:read"),
        ("projects.edges.node.environments.edges.node.variables", "variable:read"),
    ]
    assert isinstance(calls[1][2][0], EnvById)
    assert calls[1][2][0].environment_id == "e9"


def test_a_nested_field_the_gateway_cannot_place_is_refused_not_ignored() -> None:
    with pytest.raises(BrokerError) as caught:
        gql(LANG, {"query": "{ projects { variables { name } } }"})
    assert code(caught) == "missing_value"


def test_a_root_fields_own_nested_rule_reads_its_arguments_and_values() -> None:
    calls = one('{ environment(id: "e1") { config(decryptVariables: true) name } }')
    assert [a for _, a, _ in calls] == ["environment:read", "variable:read"]
    assert isinstance(calls[1][2][0], EnvById)
    assert calls[1][2][0].environment_id == "e1"
    calls = one('{ environment(id: "e1") { config } }')
    assert [a for _, a, _ in calls] == ["environment:read", "environment:read"]


def test_a_refused_nested_field_refuses_the_request() -> None:
    with pytest.raises(BrokerError) as caught:
        gql(LANG, {"query": '{ environment(id: "e1") { deep { secrets } } }'})
    assert code(caught) == "route_refused"


def test_fragment_blow_up_below_a_root_field_is_capped() -> None:
    frags = "".join(
        f"fragment F{i} on T {{ a: x {{ ...F{i + 1} }} b: y {{ ...F{i + 1} }} }}\n"
        for i in range(11)
    )
    q = "{ projects { ...F0 } }\n" + frags + "fragment F11 on T { z }"
    doc = {"query": q}
    big = lang(graphql={**MAP["spec"]["graphql"], "limits": {"depth": 64, "tokens": 100000}})
    with pytest.raises(BrokerError) as caught:
        gql(big, doc)
    assert code(caught) == "graphql_too_large"


# --- relation checks ---------------------------------------------------------------------


def test_relation_checks_are_carried_on_the_call() -> None:
    c = gql(
        LANG,
        {
            "query": "mutation { backupDelete("
            'backupId: "b1", instanceId: "i1", environmentId: "e") }'
        },
    )
    (check,) = c.calls[0].checks
    assert check.lookup.params == (("instanceId", "i1"),)
    assert check.expected == "b1"
    assert "belong" in check.reason


def test_the_map_knows_its_identity_and_key_headers() -> None:
    assert LANG.environments.qualified_by == "project"
    assert LANG.environments.parts == 2
    assert LANG.auth_for("project-token").header == "Project-Access-Token"
    assert LANG.auth_headers() == frozenset({"authorization", "project-access-token"})


# --- the compiler's rules ----------------------------------------------------------------


def problems(doc_changes: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as caught:
        lang(**doc_changes)
    return [(p.path, p.message) for p in caught.value.problems]


def _mutation(name: str, field: dict[str, Any]) -> dict[str, Any]:
    graphql = copy.deepcopy(MAP["spec"]["graphql"])
    graphql["operations"]["mutation"][name] = field
    return {"graphql": graphql}


@pytest.mark.parametrize(
    ("field", "where", "words"),
    [
        (
            {"action": "variable:write", "environment": {"environment_id": "{args.ids[*]}"}},
            "environment",
            "[*] is allowed in resources only",
        ),
        (
            {
                "action": "variable:write",
                "resources": ["{args.a[*]}:{args.b[*]}"],
                "environment": {"unscoped": True},
            },
            "resources[0]",
            "at most one placeholder",
        ),
        (
            {
                "action": "variable:write",
                "environment": {"unscoped": True},
                "when": [{"if": {"body.x": 1}, "action": "variable:write"}],
            },
            "when[0].if.body.x",
            "args.<name>",
        ),
        (
            {
                "action": "variable:write",
                "environment": {"unscoped": True},
                "when": [{"if": {"args.x": 1}, "action": "nope:nope"}],
            },
            "when[0].action",
            "not declared",
        ),
        (
            {
                "action": "variable:write",
                "environment": {"first": [{"unscoped": True}, {"name": "a"}]},
            },
            "environment.first",
            "no unscoped",
        ),
        (
            {
                "action": "variable:write",
                "environment": {"unscoped": True},
                "checks": [
                    {"lookup": "instanceBackups", "with": {}, "contains": "{args.x}", "reason": "r"}
                ],
            },
            "checks[0].with",
            "exactly the lookup's parameters",
        ),
        (
            {
                "action": "variable:write",
                "environment": {"unscoped": True},
                "nested": {"x": {"action": "variable:read", "environment": {"name": "{there.a}"}}},
            },
            "nested.x.environment.name",
            "here.<name>",
        ),
        ({"refuse": ""}, "", ""),
        ({"refuse": "why", "action": "variable:write"}, "", ""),
    ],
)
def test_the_compiler_names_each_mistake(field: dict[str, Any], where: str, words: str) -> None:
    found = problems(_mutation("bad", field))
    assert any(where in path and words in message for path, message in found), found


def test_then_chains_must_fit_and_must_not_loop() -> None:
    lookups = copy.deepcopy(MAP["spec"]["lookups"])
    lookups["a"] = {**lookups["instanceBackups"], "then": {"lookup": "b", "param": "instanceId"}}
    lookups["b"] = {**lookups["instanceBackups"], "then": {"lookup": "a", "param": "instanceId"}}
    lookups["c"] = {
        **lookups["instanceBackups"],
        "then": {"lookup": "serviceEnvironments", "param": "nope"},
    }
    found = problems({"lookups": lookups})
    assert ("spec.lookups.a.then", "the chain of then lookups loops") in found
    assert any(p == "spec.lookups.c.then" and "not 'nope'" in m for p, m in found)


def test_a_paged_lookup_must_leave_its_page_variable_to_the_gateway() -> None:
    lookups = copy.deepcopy(MAP["spec"]["lookups"])
    lookups["paged"] = {
        "graphql": (
            "query($after: String) { xs(after: $after) { pageInfo { hasNextPage endCursor } } }"
        ),
        "variables": {"after": "{x}"},
        "result": "data.xs",
        "pages": {
            "cursor": "data.xs.pageInfo.endCursor",
            "more": "data.xs.pageInfo.hasNextPage",
            "variable": "after",
        },
    }
    found = problems({"lookups": lookups})
    assert any(p == "spec.lookups.paged.pages.variable" for p, _ in found), found


def test_qualified_environment_names_are_valid_in_fixed_sources_and_inventory() -> None:
    m = lang(inventory={"volume:v1": ["9f1c-77/staging", "9f1c-77/production"]})
    assert m.inventory_environments("volume:v1") == ("9f1c-77/staging", "9f1c-77/production")
    found = problems({"inventory": {"volume:v1": ["a/b/c/d/staging"]}})
    assert found
    assert "not a valid environment" in found[0][1]


def test_a_nullable_variable_left_out_leaves_its_argument_out() -> None:
    # GraphQL allows it; the fallback source then takes over, as for an absent argument
    q = 'mutation($e: String) { serviceDelete(id: "s1", environmentId: $e) }'
    ((_, _, envs),) = one(q)
    assert isinstance(envs[0], EnvLookup)
    q = (
        "mutation($e: String) { variableCollectionUpsert("
        'input: {serviceId: "s", environmentId: $e}) }'
    )
    with pytest.raises(BrokerError) as caught:
        one(q)
    assert code(caught) == "missing_value"  # nothing says where it goes
    q = 'mutation($e: String!) { serviceDelete(id: "s1", environmentId: $e) }'
    with pytest.raises(BrokerError) as caught:
        one(q)
    assert code(caught) == "missing_variable"
