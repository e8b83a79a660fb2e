"""Refusals raised while classifying a request, each with a fine-grained code.

Every refusal is a ``broker.errors`` class carrying one of the existing
``Reason`` values; the finer code (``ambiguous_encoding``, ``mutation_over_get``,
...) travels in ``extra["refusal"]`` so the problem+json body shows both. The
codes below are part of the contract; ``refusal_code`` reads one back.
"""

from __future__ import annotations

from broker.errors import (
    BrokerError,
    Denied,
    InvalidRequest,
    PayloadTooLarge,
    Reason,
    UnsupportedMediaType,
)

# Request shape (400 invalid_request unless noted)
AMBIGUOUS_ENCODING = "ambiguous_encoding"  # %2F, %5C, %25, bad %XX, raw ';' in the query
INVALID_PATH = "invalid_path"  # not absolute, non-ASCII, ';' path parameters
INVALID_UTF8 = "invalid_utf8"  # decoded bytes are not strict UTF-8 (overlong, surrogates)
CONTROL_CHARACTER = "control_character"  # NUL, C0, DEL or C1 after decoding
PATH_TRAVERSAL = "path_traversal"  # '..' climbing above the root
TRAILING_SLASH = "trailing_slash"  # a trailing '/' on a map that refuses them
METHOD_NOT_ALLOWED = "method_not_allowed"  # OPTIONS, TRACE, CONNECT, lower case, unknown
METHOD_OVERRIDE = "method_override"  # X-HTTP-Method-Override & co, ?_method=
AMBIGUOUS_HEADER = "ambiguous_header"  # Content-Type given twice
CONTENT_ENCODING = "content_encoding"  # a compressed body we cannot read (415)
BODY_NOT_ALLOWED = "body_not_allowed"  # a body on GET or HEAD
INVALID_JSON = "invalid_json"  # unparsable, duplicate keys, too deep
MISSING_VALUE = "missing_value"  # a template names an argument/field the request lacks
BAD_VALUE = "bad_value"  # a template value that is not a short printable scalar
DUPLICATE_PARAMETER = "duplicate_parameter"  # ?query= twice, an argument twice
# Allowlists (docs/route-maps.md "Allowlists"): what the map does not declare is refused
UNDECLARED_PARAMETER = "undeclared_parameter"  # a query parameter the rule does not declare
UNDECLARED_FIELD = "undeclared_field"  # a body field the rule does not declare
GRAPHQL_INVALID = "graphql_invalid"  # breaks a GraphQL validation rule that needs no schema
# GraphQL
GRAPHQL_SYNTAX = "graphql_syntax"
GRAPHQL_TOO_LARGE = "graphql_too_large"  # document bytes or token count over the cap
GRAPHQL_TOO_DEEP = "graphql_too_deep"
GRAPHQL_TOO_MANY_FIELDS = "graphql_too_many_fields"
GRAPHQL_BATCH = "graphql_batch"  # empty batch or more entries than allowed
GRAPHQL_REQUEST = "graphql_request"  # wrong field types, unknown keys, no query
PERSISTED_QUERY = "persisted_query"  # "extensions" (e.g. persisted queries) not supported
OPERATION_NOT_FOUND = "operation_not_found"
AMBIGUOUS_OPERATION = "ambiguous_operation"  # several operations and no operationName
MUTATION_OVER_GET = "mutation_over_get"
SUBSCRIPTION_NOT_ALLOWED = "subscription_not_allowed"
INTROSPECTION_NOT_ALLOWED = "introspection_not_allowed"
MISSING_VARIABLE = "missing_variable"
FRAGMENT_ERROR = "fragment_error"  # unknown fragment, cycle, duplicate name
# Denials
UNKNOWN_ROUTE = Reason.UNKNOWN_ROUTE.value  # nothing in the map says what the call does
ROUTE_REFUSED = Reason.ROUTE_REFUSED.value  # the map names the call only to refuse it
# Lookups (the gateway's side)
ENVIRONMENT_UNRESOLVED = Reason.ENVIRONMENT_UNRESOLVED.value
RELATION_UNPROVEN = Reason.RELATION_UNPROVEN.value


def refusal_code(exc: BrokerError) -> str:
    """The fine-grained code of a refusal raised by this package (else its reason)."""
    code = exc.extra.get("refusal")
    return code if isinstance(code, str) else exc.reason.value


def bad_request(code: str, detail: str) -> InvalidRequest:
    return InvalidRequest(detail, extra={"refusal": code})


def unknown_route(detail: str) -> Denied:
    return Denied(detail, reason=Reason.UNKNOWN_ROUTE, extra={"refusal": UNKNOWN_ROUTE})


def too_large(detail: str) -> PayloadTooLarge:
    return PayloadTooLarge(detail, extra={"refusal": Reason.BODY_TOO_LARGE.value})


def unsupported_media_type(detail: str, code: str | None = None) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        detail, extra={"refusal": code or Reason.UNSUPPORTED_MEDIA_TYPE.value}
    )


def unresolved(detail: str) -> Denied:
    return Denied(
        detail, reason=Reason.ENVIRONMENT_UNRESOLVED, extra={"refusal": ENVIRONMENT_UNRESOLVED}
    )


def relation_unproven(detail: str) -> Denied:
    return Denied(detail, reason=Reason.RELATION_UNPROVEN, extra={"refusal": RELATION_UNPROVEN})
