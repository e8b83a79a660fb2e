"""The GraphQL validation rules that need no schema, run before classification.

A document that breaks one of them (two operations or fragments of one name, a variable
defined twice or never, an argument given twice, ...) is one the approver and the
provider could read as two different calls, or that a lenient server would run anyway:
the gateway refuses it rather than guess which reading the provider takes. The rules are
graphql-core's own; they run against a placeholder schema because none of them looks a
type up. Each maps to the refusal code the classifier already used for that ambiguity.
They run once per distinct document: the caller's parse is cached by text.
"""

from __future__ import annotations

from typing import Any, NoReturn

from graphql import GraphQLError, GraphQLField, GraphQLObjectType, GraphQLSchema, GraphQLString
from graphql.language import DocumentNode, ParallelVisitor, visit
from graphql.utilities import TypeInfo
from graphql.validation import (
    ASTValidationRule,
    ExecutableDefinitionsRule,
    KnownFragmentNamesRule,
    LoneAnonymousOperationRule,
    NoFragmentCyclesRule,
    NoUndefinedVariablesRule,
    NoUnusedFragmentsRule,
    NoUnusedVariablesRule,
    UniqueArgumentNamesRule,
    UniqueDirectivesPerLocationRule,
    UniqueFragmentNamesRule,
    UniqueInputFieldNamesRule,
    UniqueOperationNamesRule,
    UniqueVariableNamesRule,
    ValidationContext,
)

from broker.routemap import errors as e

# Rule -> the refusal code of the ambiguity it names.
SCHEMALESS_RULES: tuple[tuple[type[ASTValidationRule], str], ...] = (
    (ExecutableDefinitionsRule, e.GRAPHQL_REQUEST),
    (UniqueOperationNamesRule, e.AMBIGUOUS_OPERATION),
    (LoneAnonymousOperationRule, e.AMBIGUOUS_OPERATION),
    (UniqueFragmentNamesRule, e.FRAGMENT_ERROR),
    (KnownFragmentNamesRule, e.FRAGMENT_ERROR),
    (NoUnusedFragmentsRule, e.FRAGMENT_ERROR),
    (NoFragmentCyclesRule, e.FRAGMENT_ERROR),
    (UniqueVariableNamesRule, e.DUPLICATE_PARAMETER),
    (NoUndefinedVariablesRule, e.MISSING_VARIABLE),
    (NoUnusedVariablesRule, e.GRAPHQL_INVALID),
    (UniqueArgumentNamesRule, e.DUPLICATE_PARAMETER),
    (UniqueInputFieldNamesRule, e.DUPLICATE_PARAMETER),
    (UniqueDirectivesPerLocationRule, e.GRAPHQL_INVALID),
)
# None of the rules above reads a type; their context still wants a schema to hand them.
_PLACEHOLDER = GraphQLSchema(GraphQLObjectType("Query", {"_": GraphQLField(GraphQLString)}))


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _failing(rule: type[ASTValidationRule], code: str) -> type[ASTValidationRule]:
    """``rule``, stopping at its first error with ``code`` (no need to collect the rest)."""

    def report_error(self: Any, error: GraphQLError) -> NoReturn:
        raise _Refused(code, error.message)

    return type(rule.__name__, (rule,), {"report_error": report_error})


_RULES = tuple(_failing(rule, code) for rule, code in SCHEMALESS_RULES)
_VARIABLE_RULES = (NoUndefinedVariablesRule, NoUnusedVariablesRule)
# Without a '$' in its text a document defines and uses no variable: those two rules (the
# costly ones, they walk every operation's fragments again) have nothing to find.
_WITHOUT_VARIABLES = tuple(
    _failing(rule, code) for rule, code in SCHEMALESS_RULES if rule not in _VARIABLE_RULES
)


def check_document(document: DocumentNode, text: str) -> None:
    """Refuse (``InvalidRequest`` with the rule's code) a document breaking any rule above.

    ``text`` is the document's source. The rules run in one pass without type information
    (none reads a type), about half the cost of ``graphql.validate``."""
    rules = _RULES if "$" in text else _WITHOUT_VARIABLES
    context = ValidationContext(_PLACEHOLDER, document, TypeInfo(_PLACEHOLDER), _never)
    try:
        visit(document, ParallelVisitor([rule(context) for rule in rules]))
    except _Refused as refused:
        raise e.bad_request(refused.code, f"invalid GraphQL: {refused.message}") from None


def _never(error: GraphQLError) -> None:  # every rule above raises before it reports
    raise AssertionError(error.message)
