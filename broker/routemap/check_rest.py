"""``routemap check`` for REST: a map's rules against an OpenAPI description's operations.

Operations and rules are compared by **shape**: the literal segments must be equal and
every ``{param}`` is a wildcard, whatever its name (``{owner}`` and ``{org}`` are the same
shape); a rule's final ``{name+}`` takes one or more segments of any kind. A literal in
one never matches a parameter in the other: ``/issues/{number}`` is not
``/issues/comments``. Operations no rule matches are gaps (state-changing or read);
rules that match no operation, and REST lookups whose GET matches none, are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from broker.errors import InvalidRequest
from broker.routemap.callspec import Refused
from broker.routemap.check_allowlist import allowlist_notes
from broker.routemap.checkreport import CheckReport, Coverage, Finding
from broker.routemap.paths import Param, PathTemplate, Segment
from broker.routemap.routemap import RouteMap
from broker.routemap.templates import Template

METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WILDCARD = None  # an operation's {param} segment


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    shape: tuple[str | None, ...]  # literal segments; None for a {param}
    body_properties: frozenset[str] | None = None  # None: not known
    query_parameters: frozenset[str] | None = None  # None: not known

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def operations_of(document: object) -> list[Operation]:
    """Every operation of an OpenAPI document or a trimmed ``{"operations": [...]}`` list."""
    if not isinstance(document, Mapping):
        raise InvalidRequest("the REST description must be a JSON object")
    if isinstance(document.get("operations"), list):
        found = [_trimmed(i, item) for i, item in enumerate(document["operations"])]
        return [o for o in found if o.method in METHODS]
    out = []
    for path, item in document["paths"].items():
        if not isinstance(item, Mapping):
            raise InvalidRequest(f"paths[{path!r}] is not an object")
        for method in METHODS:
            op = item.get(method.lower())
            if isinstance(op, Mapping):
                out.append(Operation(method, path, str(op.get("operationId", "")), shape(path)))
    return out


def _trimmed(i: int, item: object) -> Operation:
    if not (
        isinstance(item, Mapping)
        and isinstance(item.get("method"), str)
        and isinstance(item.get("path"), str)
        and item["path"].startswith("/")
    ):
        raise InvalidRequest(f"operations[{i}] needs a method and a path starting with '/'")
    body = item.get("body_properties")
    query = item.get("query_parameters")
    return Operation(
        item["method"].upper(),
        item["path"],
        str(item.get("operationId", "")),
        shape(item["path"]),
        frozenset(body) if isinstance(body, list) else None,
        frozenset(query) if isinstance(query, list) else None,
    )


def shape(path: str) -> tuple[str | None, ...]:
    """``/repos/{owner}/{repo}`` -> ``("repos", None, None)``; any segment with ``{`` is one."""
    return tuple(WILDCARD if "{" in s else s for s in path.strip("/").split("/") if s)


def matches(template: PathTemplate, op_shape: tuple[str | None, ...]) -> bool:
    """Whether a map template and an operation's path have the same shape."""
    segments: tuple[Segment, ...] = template.segments
    for i, seg in enumerate(segments):
        if isinstance(seg, Param) and seg.tail:
            return len(op_shape) > i
        if i >= len(op_shape):
            return False
        if isinstance(seg, Param) != (op_shape[i] is WILDCARD):
            return False
        if not isinstance(seg, Param) and seg != op_shape[i]:
            return False
    return len(op_shape) == len(segments)


def check_rest(route_map: RouteMap, document: object) -> CheckReport:
    ops = operations_of(document)
    named: set[Operation] = set()
    refused: set[Operation] = set()
    errors: list[Finding] = []
    notes: list[str] = []
    for rule in route_map.rest:
        hits = [o for o in ops if o.method == rule.method and matches(rule.template, o.shape)]
        if not hits:
            errors.append(Finding("rule", rule.label, "matches no operation of the description"))
        named.update(hits)
        if isinstance(rule.call, Refused):
            refused.update(hits)
        else:
            errors.extend(_body_errors(rule.label, rule.call.templates(), hits))
            notes.extend(allowlist_notes(rule, hits))
    for lookup in route_map.lookups.values():
        if lookup.get is not None:
            get = lookup.get
            if not any(o.method == "GET" and matches(get, o.shape) for o in ops):
                errors.append(
                    Finding("lookup", f"lookup {lookup.name}", f"GET {get.text} is no operation")
                )
    unnamed = [o for o in ops if o not in named]
    gaps = [Finding("state-changing", o.label, o.operation_id) for o in unnamed if _changes(o)]
    gaps += [Finding("read", o.label, o.operation_id) for o in unnamed if not _changes(o)]
    return CheckReport(
        route_map.name,
        "rest",
        _describe(document),
        _coverage(ops, named, refused),
        tuple(gaps),
        tuple(errors),
        tuple(notes),
    )


def _changes(op: Operation) -> bool:
    return op.method in STATE_CHANGING


def _body_errors(label: str, templates: list[Template], hits: list[Operation]) -> list[Finding]:
    """``{body.x}`` references to a property no matched operation's JSON body has."""
    known = [o.body_properties for o in hits if o.body_properties is not None]
    if not known:
        return []
    out = []
    for template in templates:
        for p in template.placeholders:
            if p.ref[0] == "body" and not any(p.ref[1] in props for props in known):
                out.append(Finding("rule", label, f"{{{p.dotted}}}: the body has no {p.ref[1]!r}"))
    return out


def _coverage(
    ops: list[Operation], named: set[Operation], refused: set[Operation]
) -> tuple[Coverage, ...]:
    def count(label: str, keep: frozenset[str]) -> Coverage:
        chosen = [o for o in ops if o.method in keep]
        return Coverage(
            label,
            sum(1 for o in chosen if o in named),
            len(chosen),
            sum(1 for o in chosen if o in refused),
        )

    return (
        count("state-changing", STATE_CHANGING),
        count("DELETE", frozenset({"DELETE"})),
        count("all", frozenset(METHODS)),
    )


def _describe(document: object) -> str:
    if not isinstance(document, Mapping):
        return ""
    info = document.get("info")
    if isinstance(info, Mapping):
        return f"{info.get('title', '')} {info.get('version', '')}".strip()
    return str(document.get("description", ""))
