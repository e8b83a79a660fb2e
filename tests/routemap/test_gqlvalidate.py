"""The schema-less GraphQL validation rules, one document per rule (gqlvalidate.py)."""

from __future__ import annotations

import pytest
from graphql import parse

from broker.errors import BrokerError
from broker.routemap import refusal_code
from broker.routemap.gqlvalidate import SCHEMALESS_RULES, check_document

FRAGMENT, INVALID = "fragment_error", "graphql_invalid"
BROKEN = {
    "ExecutableDefinitionsRule": ("scalar X { a }", "graphql_request"),
    "UniqueOperationNamesRule": ("query A { a } query A { b }", "ambiguous_operation"),
    "LoneAnonymousOperationRule": ("{ a } query B { b }", "ambiguous_operation"),
    "UniqueFragmentNamesRule": (
        "{ ...F } fragment F on Q { a } fragment F on Q { b }",
        "fragment_error",
    ),
    "KnownFragmentNamesRule": ("{ a { ...Nope } }", "fragment_error"),
    "NoUnusedFragmentsRule": ("{ a } fragment F on Q { b }", "fragment_error"),
    "NoFragmentCyclesRule": (
        "{ ...A } fragment A on Q { ...B } fragment B on Q { ...A }",
        "fragment_error",
    ),
    "UniqueVariableNamesRule": ("query($v: ID, $v: ID) { a(x: $v) }", "duplicate_parameter"),
    "NoUndefinedVariablesRule": ("query A { a(x: $v) }", "missing_variable"),
    "NoUnusedVariablesRule": ("query($v: ID) { a }", "graphql_invalid"),
    "UniqueArgumentNamesRule": ("{ a { b(x: 1, x: 2) } }", "duplicate_parameter"),
    "UniqueInputFieldNamesRule": ("{ a(x: {k: 1, k: 2}) }", "duplicate_parameter"),
    "UniqueDirectivesPerLocationRule": (
        "{ a @include(if: true) @include(if: false) }",
        "graphql_invalid",
    ),
}


def test_every_rule_has_a_broken_document() -> None:
    assert {rule.__name__ for rule, _ in SCHEMALESS_RULES} == set(BROKEN)


@pytest.mark.parametrize(("text", "code"), BROKEN.values(), ids=list(BROKEN))
def test_a_document_breaking_a_rule_is_refused_with_its_code(text: str, code: str) -> None:
    with pytest.raises(BrokerError) as caught:
        check_document(parse(text, no_location=True), text)
    assert refusal_code(caught.value) == code


@pytest.mark.parametrize(
    "text",
    [
        "{ __typename }",
        'query Q($p: ID!, $n: Int = 3) { a(p: $p) { ...F } b(s: "$5 off") } '
        "fragment F on T { c(n: $n) @skip(if: false) d { __typename } }",
        "query A { a } query B { b } mutation C { c(x: {k: 1, j: [1, 2]}) }",
        "{ a @cached @cached }",  # unknown directives may repeat: the provider's schema says
    ],
)
def test_valid_documents_pass(text: str) -> None:
    check_document(parse(text, no_location=True), text)
