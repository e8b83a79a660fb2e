"""GraphQL requests -> one ``FieldCall`` per root field of every operation.

Rules (docs/route-maps.md has the reasons):

- POST ``application/json`` with ``{"query", "variables", "operationName"}`` or a
  non-empty array of those (a batch); GET with the same three query parameters,
  and then every operation in the document must be a query.
- Caps before parsing (document bytes, nesting depth) and while parsing (tokens).
- Operation selection follows the GraphQL spec (a named operation must exist,
  several operations need a name), but EVERY operation in the document is
  classified, so nothing can execute that was not classified.
- Root fields are found through named fragments and inline fragments (with or
  without type conditions, which are ignored), classified by field name (never
  the alias). ``__typename`` is ignored; ``__schema``/``__type`` need the map's
  ``introspection`` action. A root field the map does not know: ``unknown_route``.
- Arguments are literals or ``$variables`` (from ``variables``, else the
  variable's default; a nullable variable left out leaves its argument or input
  field out, as GraphQL says; a non-null one left out is refused).
- A root field the map names only to refuse (``{refuse: reason}``): ``route_refused``.
- Below each root field, every field whose name the map declares as ``nested`` (the
  root field's own ``nested``, else ``graphql.nested``) is classified too, at any
  depth and through fragments, and gives one more call; its templates read the root
  field's arguments as ``args.*`` and its own as ``here.*``. Matching by name can only
  add calls. The walk is capped (``MAX_NESTED_VISITS``) against fragment blow-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache, partial
from typing import Any

from graphql import GraphQLSyntaxError, parse
from graphql.language import (
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NonNullTypeNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)

from broker.routemap import errors as e
from broker.routemap.callspec import CallSpec, Refused
from broker.routemap.gqlvalidate import check_document
from broker.routemap.jsonbody import body_json, strict_json
from broker.routemap.model import Call, Classification, FieldCall, OperationType
from broker.routemap.routemap import GraphQLLimits, GraphQLSpec, RouteMap
from broker.routemap.templates import dig

REQUEST_KEYS = frozenset({"query", "variables", "operationName"})
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
MAX_NESTED_VISITS = 5000  # fields visited below the roots of one request (fragments repeat)
_Entry = tuple[object, object, object]  # query, variables, operationName as received


def classify_graphql(
    route_map: RouteMap,
    method: str,
    query_params: tuple[tuple[str, str], ...],
    content_type: str,
    body: bytes,
) -> Classification:
    spec = route_map.graphql
    if spec is None:
        raise e.unknown_route(f"{route_map.provider} has no GraphQL endpoint")
    if method == "GET":
        if body:
            raise e.bad_request(e.BODY_NOT_ALLOWED, "a GET request carries no body")
        entries = [_get_entry(query_params)]
    elif method == "POST":
        if query_params:
            raise e.bad_request(e.GRAPHQL_REQUEST, "a GraphQL POST carries no query string")
        if content_type != "application/json":
            raise e.unsupported_media_type("send GraphQL as application/json")
        entries = _post_entries(body_json(body), spec.limits)
    else:
        raise e.bad_request(e.METHOD_NOT_ALLOWED, "GraphQL takes GET or POST")
    fields: list[FieldCall] = []
    for i, entry in enumerate(entries):
        fields.extend(_classify_entry(route_map, spec, entry, i, allow_mutation=method == "POST"))
    if sum(1 for f in fields if f.root) > spec.limits.root_fields:
        raise e.bad_request(e.GRAPHQL_TOO_MANY_FIELDS, "the request has too many root fields")
    return Classification(
        "graphql", tuple(f.call for f in fields), spec.endpoint.text, tuple(fields)
    )


def _get_entry(query_params: tuple[tuple[str, str], ...]) -> _Entry:
    seen: dict[str, str] = {}
    for key, value in query_params:
        if key == "extensions":
            raise e.bad_request(e.PERSISTED_QUERY, "GraphQL extensions are not accepted")
        if key not in REQUEST_KEYS:
            raise e.bad_request(e.GRAPHQL_REQUEST, f"unknown GraphQL parameter {key!r}")
        if key in seen:
            raise e.bad_request(e.DUPLICATE_PARAMETER, f"{key!r} is given more than once")
        seen[key] = value
    variables: object = None
    if "variables" in seen and seen["variables"] != "":
        variables = strict_json(seen["variables"], "variables")
    return seen.get("query"), variables, seen.get("operationName") or None


def _post_entries(body: object, limits: GraphQLLimits) -> list[_Entry]:
    items = body if isinstance(body, list) else [body]
    if isinstance(body, list) and not 0 < len(body) <= limits.batch:
        raise e.bad_request(e.GRAPHQL_BATCH, f"a batch holds 1 to {limits.batch} requests")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            raise e.bad_request(e.GRAPHQL_REQUEST, "each GraphQL request must be an object")
        if "extensions" in item:
            raise e.bad_request(e.PERSISTED_QUERY, "GraphQL extensions are not accepted")
        unknown = set(item) - REQUEST_KEYS
        if unknown:
            raise e.bad_request(e.GRAPHQL_REQUEST, f"unknown GraphQL keys {sorted(unknown)}")
        entries.append((item.get("query"), item.get("variables"), item.get("operationName")))
    return entries


def _classify_entry(
    route_map: RouteMap, spec: GraphQLSpec, entry: _Entry, index: int, *, allow_mutation: bool
) -> list[FieldCall]:
    query, variables, operation_name = entry
    if not isinstance(query, str) or not query.strip():
        raise e.bad_request(e.GRAPHQL_REQUEST, "'query' must be a non-empty string")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise e.bad_request(e.GRAPHQL_REQUEST, "'variables' must be an object")
    if operation_name is not None and not isinstance(operation_name, str):
        raise e.bad_request(e.GRAPHQL_REQUEST, "'operationName' must be a string")
    document = parse_document(query, spec.limits)
    operations, fragments = _definitions(document)
    _select(operations, operation_name)
    out = []
    for op in operations:
        op_type: OperationType = op.operation.value
        if op_type == "mutation" and not allow_mutation:
            raise e.bad_request(e.MUTATION_OVER_GET, "a mutation cannot be sent with GET")
        if op_type == "subscription" and "subscription" not in spec.fields:
            raise e.bad_request(e.SUBSCRIPTION_NOT_ALLOWED, "subscriptions are not accepted")
        known = spec.fields.get(op_type, {})
        name = op.name.value if op.name else None
        for node in _root_fields(op.selection_set, fragments, ()):
            field = node.name.value
            if field == "__typename":
                continue
            if field in INTROSPECTION_FIELDS:
                call_spec = spec.introspection
                if call_spec is None:
                    raise e.bad_request(
                        e.INTROSPECTION_NOT_ALLOWED, "introspection is not allowed here"
                    )
            else:
                found = known.get(field)
                if found is None:
                    raise e.unknown_route(f"no rule for the {op_type} field {field!r}")
                if isinstance(found, Refused):
                    raise found.refuse(f"the {op_type} field {field!r}")
                call_spec = found
            args = _arguments(node, op, variables)
            call = call_spec.fill(partial(_arg, args), route_map)
            out.append(FieldCall(op_type, field, call, index, name))
            nested = {**spec.nested, **call_spec.nested} if call_spec.nested else spec.nested
            if nested and node.selection_set is not None:
                for path, nested_call in _nested_calls(
                    route_map, nested, node.selection_set, fragments, op, variables, args
                ):
                    out.append(FieldCall(op_type, f"{field}.{path}", nested_call, index, name))
            if sum(1 for f in out if f.root) > spec.limits.root_fields:
                raise e.bad_request(e.GRAPHQL_TOO_MANY_FIELDS, "too many root fields")
    return out


def _arg(args: dict[str, object], ref: tuple[str, ...]) -> object:
    return dig(args, ref[1:])  # ref is ("args", name, ...): the loader allows nothing else


def _nested_calls(
    route_map: RouteMap,
    nested: Mapping[str, CallSpec | Refused],
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    op: OperationDefinitionNode,
    variables: Mapping[str, Any],
    root_args: dict[str, object],
) -> Iterator[tuple[str, Call]]:
    """(path of field names, call) for every declared nested field below a root field."""
    stack: list[tuple[str, SelectionSetNode]] = [("", selection_set)]
    visits = 0
    while stack:
        prefix, current = stack.pop()
        for node in _root_fields(current, fragments, ()):
            visits += 1
            if visits > MAX_NESTED_VISITS:
                raise e.bad_request(e.GRAPHQL_TOO_LARGE, "the selection is too large to check")
            name = node.name.value
            path = f"{prefix}{name}"
            found = nested.get(name)
            if isinstance(found, Refused):
                raise found.refuse(f"the field {path!r}")
            if found is not None:
                here = _arguments(node, op, variables)

                def resolve(ref: tuple[str, ...], here: dict[str, object] = here) -> object:
                    return dig(here if ref[0] == "here" else root_args, ref[1:])

                yield path, found.fill(resolve, route_map)
            if node.selection_set is not None:
                stack.append((f"{path}.", node.selection_set))


@lru_cache(maxsize=512)
def parse_document(query: str, limits: GraphQLLimits) -> DocumentNode:
    """Parse under the caps. Cached by text: agents repeat documents, and the tree is only
    read, never changed, by the classifier."""
    if len(query.encode("utf-8")) > limits.document_bytes:
        raise e.bad_request(e.GRAPHQL_TOO_LARGE, "the GraphQL document is too large")
    if nesting_depth(query) > limits.depth:
        raise e.bad_request(e.GRAPHQL_TOO_DEEP, "the GraphQL document is nested too deeply")
    try:
        document = parse(query, no_location=True, max_tokens=limits.tokens)
    except GraphQLSyntaxError as exc:
        if "tokens" in exc.message and "Parsing aborted" in exc.message:
            raise e.bad_request(
                e.GRAPHQL_TOO_LARGE, "the GraphQL document has too many tokens"
            ) from None
        raise e.bad_request(e.GRAPHQL_SYNTAX, f"GraphQL syntax error: {exc.message}") from None
    except RecursionError:
        raise e.bad_request(
            e.GRAPHQL_TOO_DEEP, "the GraphQL document is nested too deeply"
        ) from None
    check_document(document, query)  # the schema-less validation rules (gqlvalidate.py)
    return document


def nesting_depth(text: str) -> int:
    """Deepest nesting of ``{ ( [`` outside strings and comments (a cheap pre-parse cap)."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            while i < n and text[i] not in "\r\n":
                i += 1
        elif text.startswith('"""', i):
            end = i + 3
            while end < n and not (text.startswith('"""', end) and text[end - 1] != "\\"):
                end += 1
            i = end + 2
        elif c == '"':
            i += 1
            while i < n and text[i] not in '"\r\n':
                i += 2 if text[i] == "\\" else 1
        elif c in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "})]":
            depth -= 1
        i += 1
    return deepest


def _definitions(
    document: DocumentNode,
) -> tuple[list[OperationDefinitionNode], dict[str, FragmentDefinitionNode]]:
    operations: list[OperationDefinitionNode] = []
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
        elif isinstance(definition, FragmentDefinitionNode):
            if definition.name.value in fragments:
                raise e.bad_request(e.FRAGMENT_ERROR, "a fragment name is defined twice")
            fragments[definition.name.value] = definition
        else:
            raise e.bad_request(e.GRAPHQL_REQUEST, "only operations and fragments are accepted")
    return operations, fragments


def _select(operations: list[OperationDefinitionNode], operation_name: str | None) -> None:
    if not operations:
        raise e.bad_request(e.GRAPHQL_REQUEST, "the document has no operation")
    names = [op.name.value if op.name else None for op in operations]
    if len(operations) > 1 and None in names:
        raise e.bad_request(e.AMBIGUOUS_OPERATION, "an anonymous operation must be alone")
    if len(set(names)) != len(names):
        raise e.bad_request(e.AMBIGUOUS_OPERATION, "an operation name is used twice")
    if operation_name is not None:
        if operation_name not in names:
            raise e.bad_request(e.OPERATION_NOT_FOUND, "operationName names no operation")
    elif len(operations) > 1:
        raise e.bad_request(e.AMBIGUOUS_OPERATION, "several operations and no operationName")


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    spreading: tuple[str, ...],
) -> Iterator[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, spreading)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None:
                raise e.bad_request(e.FRAGMENT_ERROR, f"fragment {name!r} is not defined")
            if name in spreading:
                raise e.bad_request(e.FRAGMENT_ERROR, f"fragment {name!r} spreads itself")
            yield from _root_fields(fragment.selection_set, fragments, (*spreading, name))


def _arguments(
    node: FieldNode, op: OperationDefinitionNode, variables: Mapping[str, Any]
) -> dict[str, object]:
    args: dict[str, object] = {}
    for arg in node.arguments:
        if arg.name.value in args:
            raise e.bad_request(e.DUPLICATE_PARAMETER, f"argument {arg.name.value!r} is repeated")
        value = _value(arg.value, op, variables)
        if value is not _OMITTED:
            args[arg.name.value] = value
    return args


class _Omitted:
    pass


# A nullable variable the request leaves out (GraphQL allows it): the argument or input
# field it fills is then not given at all, as if the document did not name it.
_OMITTED = _Omitted()


def _value(node: ValueNode, op: OperationDefinitionNode, variables: Mapping[str, Any]) -> object:
    if isinstance(node, VariableNode):
        name = node.name.value
        definition = next(
            (d for d in op.variable_definitions if d.variable.name.value == name), None
        )
        if definition is None:
            raise e.bad_request(e.MISSING_VARIABLE, f"${name} is not defined by the operation")
        if name in variables:
            return variables[name]
        if definition.default_value is not None:
            return _value(definition.default_value, op, {})
        if not isinstance(definition.type, NonNullTypeNode):
            return _OMITTED
        raise e.bad_request(e.MISSING_VARIABLE, f"variable ${name} is missing")
    if isinstance(node, IntValueNode | FloatValueNode | StringValueNode | EnumValueNode):
        # Numbers stay as written: a template shows them as the upstream reads them.
        return node.value
    if isinstance(node, BooleanValueNode):
        return node.value
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, ListValueNode):
        items = (_value(v, op, variables) for v in node.values)
        return [None if v is _OMITTED else v for v in items]
    if isinstance(node, ObjectValueNode):
        out: dict[str, object] = {}
        for f in node.fields:
            if f.name.value in out:
                raise e.bad_request(e.DUPLICATE_PARAMETER, f"field {f.name.value!r} is repeated")
            value = _value(f.value, op, variables)
            if value is not _OMITTED:
                out[f.name.value] = value
        return out
    raise e.bad_request(e.GRAPHQL_REQUEST, "unsupported argument value")
