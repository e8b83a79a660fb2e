"""``routemap check`` for GraphQL: a map's root fields and lookups against an introspection.

Root fields the schema offers and the map does not name are gaps; fields the map
classifies that the schema lacks, ``{args.*}`` references to arguments (or input-object
fields) that do not exist, and lookups whose document graphql-core does not validate
(or whose result path leaves the selection) are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    build_client_schema,
    get_named_type,
    parse,
    validate,
    validate_schema,
)

from broker.errors import InvalidRequest
from broker.routemap.callspec import CallSpec, Refused
from broker.routemap.checkreport import CheckReport, Coverage, Finding
from broker.routemap.compile import OPERATIONS
from broker.routemap.lookups import Lookup
from broker.routemap.model import OperationType
from broker.routemap.resultpath import Filter, Key, ResultPath
from broker.routemap.routemap import RouteMap
from broker.routemap.templates import EACH

if TYPE_CHECKING:
    from graphql import IntrospectionQuery


def client_schema(document: object) -> GraphQLSchema:
    """The schema of an introspection result, or ``InvalidRequest`` saying why not."""
    data = document.get("data", document) if isinstance(document, Mapping) else document
    try:
        schema = build_client_schema(cast("IntrospectionQuery", data))
        problems = validate_schema(schema)  # resolves every type's fields now, not later
    except (GraphQLError, TypeError, KeyError, ValueError, AttributeError) as exc:
        raise InvalidRequest(f"the introspection result cannot be read: {exc}") from None
    if problems:
        raise InvalidRequest(f"the introspection result is no valid schema: {problems[0].message}")
    return schema


def root_type(schema: GraphQLSchema, op: OperationType) -> GraphQLObjectType | None:
    if op == "query":
        return schema.query_type
    return schema.mutation_type if op == "mutation" else schema.subscription_type


def check_graphql(route_map: RouteMap, document: object) -> CheckReport:
    schema = client_schema(document)
    assert route_map.graphql is not None
    coverage: list[Coverage] = []
    gaps: list[Finding] = []
    errors: list[Finding] = []
    for op in OPERATIONS:
        root = root_type(schema, op)
        offered: Mapping[str, GraphQLField] = root.fields if root is not None else {}
        mapped = route_map.graphql.fields.get(op, {})
        refused = sum(1 for n in offered if isinstance(mapped.get(n), Refused))
        coverage.append(Coverage(op, sum(1 for n in offered if n in mapped), len(offered), refused))
        gaps.extend(Finding(op, f"{op}.{n}", "") for n in offered if n not in mapped)
        for name, call in mapped.items():
            if name not in offered:
                where = root.name if root is not None else f"the schema (it has no {op} type)"
                errors.append(
                    Finding(
                        "field", f"{op}.{name}", f"classified by the map; {where} has no such field"
                    )
                )
            elif isinstance(call, CallSpec):
                errors.extend(dict.fromkeys(_argument_errors(f"{op}.{name}", offered[name], call)))
                errors.extend(_nested_errors(schema, f"{op}.{name}.nested", call.nested))
    errors.extend(_nested_errors(schema, "graphql.nested", route_map.graphql.nested))
    coverage.append(
        Coverage(
            "all",
            sum(c.named for c in coverage),
            sum(c.total for c in coverage),
            sum(c.refused for c in coverage),
        )
    )
    for lookup in route_map.lookups.values():
        if lookup.graphql is not None:
            errors.extend(lookup_errors(schema, lookup))
    return CheckReport(
        route_map.name, "graphql", _describe(schema), tuple(coverage), tuple(gaps), tuple(errors)
    )


def _describe(schema: GraphQLSchema) -> str:
    return f"GraphQL schema with {len(schema.type_map)} types"


def _argument_errors(
    subject: str, field: GraphQLField, call: CallSpec, scope: str = "args"
) -> list[Finding]:
    out = []
    for ref in sorted(call.references()):
        if ref[0] != scope:
            continue
        problem = _argument_problem(field, tuple(s for s in ref[1:] if s != EACH))
        if problem:
            dotted = ".".join(ref).replace(".*", "[*]")
            out.append(Finding("field", subject, f"{{{dotted}}} {problem}"))
    return out


def _nested_errors(
    schema: GraphQLSchema, at: str, nested: Mapping[str, CallSpec | Refused]
) -> list[Finding]:
    """A nested rule must name a field some object type has, and read its arguments."""
    out: list[Finding] = []
    for name, call in nested.items():
        carriers = [
            t.fields[name]
            for t in schema.type_map.values()
            if isinstance(t, GraphQLObjectType) and name in t.fields
        ]
        if not carriers:
            out.append(Finding("field", f"{at}.{name}", "no type of the schema has this field"))
        elif isinstance(call, CallSpec):
            found = [_argument_errors(f"{at}.{name}", c, call, "here") for c in carriers]
            if all(found):  # no field of that name has the arguments it reads
                out.extend(found[0])
    return out


def _argument_problem(field: GraphQLField, ref: tuple[str, ...]) -> str | None:
    """Why ``args.<ref>`` cannot be filled from this field's arguments (None: it can)."""
    if ref[0] not in field.args:
        return f"names no argument of the field (it has {', '.join(field.args) or 'none'})"
    named: Any = get_named_type(field.args[ref[0]].type)
    for key in ref[1:]:
        if not isinstance(named, GraphQLInputObjectType):
            return f"goes below {named.name}, which is not an input object"
        if key not in named.fields:
            return f"names no field of input {named.name}"
        named = get_named_type(named.fields[key].type)
    return None


def lookup_errors(schema: GraphQLSchema, lookup: Lookup) -> list[Finding]:
    """graphql-core's verdict on the lookup's document, then its result path."""
    assert lookup.graphql is not None
    subject = f"lookup {lookup.name}"
    try:
        document = parse(lookup.graphql)
    except GraphQLError as exc:
        return [Finding("lookup", subject, exc.message)]
    problems = validate(schema, document)
    if problems:
        return [Finding("lookup", subject, " ".join(p.message for p in problems))]
    problem = result_path_problem(document, lookup.result, objects=lookup.format is not None)
    return [Finding("lookup", subject, problem)] if problem else []


def result_path_problem(
    document: DocumentNode, path: ResultPath, *, objects: bool = False
) -> str | None:
    """Whether ``path`` follows fields the document selects, as far as can be told.

    The first step must be ``data``; every later key must be a selected field's
    response key (alias or name); the path must end on a leaf. Fragments stop the
    check (what they select is not followed here).
    """
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    keys = [s for s in path.steps if isinstance(s, Key | Filter)]
    if len(operations) != 1 or not keys or keys[0] != Key("data"):
        return f"result path {path.text!r} must start at 'data' of a one-operation document"
    selection: SelectionSetNode | None = operations[0].selection_set
    for step in keys[1:]:
        if selection is None:
            return f"result path {path.text!r} goes below a leaf field"
        fields = {_response_key(f): f for f in selection.selections if isinstance(f, FieldNode)}
        if len(fields) != len(selection.selections):
            return None  # fragments: not followed
        if isinstance(step, Filter):
            first = next((k for k in step.key if isinstance(k, Key)), None)
            if first is not None and first.name not in fields:
                return f"result path {path.text!r} filters on {first.name!r}, which is not selected"
            continue
        if step.name not in fields:
            return f"result path {path.text!r}: {step.name!r} is not selected by the query"
        selection = fields[step.name].selection_set
    if selection is not None and not objects:
        return f"result path {path.text!r} ends on an object, not a leaf field"
    if selection is None and objects:
        return f"result path {path.text!r} ends on a leaf, but the lookup formats objects"
    return None


def _response_key(node: FieldNode) -> str:
    return node.alias.value if node.alias is not None else node.name.value
