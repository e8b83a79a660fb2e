"""Route map documents -> ``RouteMap``: JSON Schema first, then the cross-field rules.

Problems are reported like every other manifest (``ManifestError`` with file
and field path), all of them at once. Cross-field rules: every action used is
declared; every lookup named exists and is bound with exactly its parameters;
every ``{ref}`` names a path parameter or ``body.*`` (REST) or ``args.*``
(GraphQL); path templates are well formed; no two REST rules (or a rule and
the GraphQL endpoint) can match one request.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from broker.domain.actions import is_valid_action
from broker.manifests.documents import read_documents
from broker.manifests.errors import ManifestError, ManifestProblem
from broker.manifests.schemas import schema_problems
from broker.routemap.allowlist import parse_accepts, parse_headers
from broker.routemap.callspec import CallSpec, Refused
from broker.routemap.canonical import PathOptions
from broker.routemap.compile_calls import CallCompiler, Refs
from broker.routemap.compile_lookups import LookupCompiler
from broker.routemap.lookups import Lookup
from broker.routemap.model import OperationType
from broker.routemap.paths import PathIndex, PathTemplateError, parse_path_template
from broker.routemap.routemap import (
    AuthSpec,
    BodySpec,
    EnvironmentIdentity,
    GraphQLLimits,
    GraphQLSpec,
    RestRule,
    Route,
    RouteMap,
)
from broker.routemap.values import parse_resource_types

API_VERSION = "capbroker.dev/v1"
KIND = "RouteMap"
OPERATIONS: tuple[OperationType, ...] = ("query", "mutation", "subscription")
DEFAULT_BODY = BodySpec()
SHIPPED_MAPS = ("railway-demo", "github", "railway")
_Refs = Refs


def load_route_map(path: Path) -> RouteMap:
    """The one route map in ``path`` (YAML or JSON), or ``ManifestError``."""
    docs = []
    for item in read_documents(path, path.as_posix()):
        if isinstance(item, ManifestProblem):
            raise ManifestError([item])
        docs.append(item)
    if len(docs) != 1:
        raise ManifestError(
            [ManifestProblem(path.as_posix(), "", "a route map file holds exactly one document")]
        )
    source, doc = docs[0]
    return parse_route_map(doc, source)


def shipped_map(name: str) -> RouteMap:
    """A map shipped in ``broker/routemap/maps`` (``railway-demo``, ``github``)."""
    if name not in SHIPPED_MAPS:
        raise ValueError(f"no shipped route map {name!r}")
    with as_file(files("broker.routemap") / "maps" / f"{name}.yaml") as path:
        return load_route_map(path)


def parse_route_map(doc: object, source: str) -> RouteMap:
    """Validate one document; raise ``ManifestError`` listing every problem found."""
    found = _shape_problems(doc)
    if found:
        raise ManifestError([ManifestProblem(source, p, m) for p, m in found])
    assert isinstance(doc, dict)
    builder = _Builder(doc["spec"])
    route_map = builder.build(doc["metadata"]["name"], source)
    if builder.problems:
        raise ManifestError([ManifestProblem(source, p, m) for p, m in builder.problems])
    assert route_map is not None
    return route_map


def _shape_problems(doc: object) -> list[tuple[str, str]]:
    if not isinstance(doc, Mapping):
        return [("", "a route map must be an object with apiVersion, kind, metadata and spec")]
    found = []
    if doc.get("apiVersion") != API_VERSION:
        found.append(("apiVersion", f"unknown apiVersion {doc.get('apiVersion')!r}"))
    if doc.get("kind") != KIND:
        found.append(("kind", f"unknown kind {doc.get('kind')!r} (expected {KIND})"))
    if found:
        return found
    return schema_problems(KIND, doc)


class _Builder:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.problems: list[tuple[str, str]] = []
        paths = spec.get("paths", {})
        self.options = PathOptions(
            case_insensitive=paths.get("case_insensitive", False),
            trailing_slash=paths.get("trailing_slash", "strip"),
        )
        self.actions: dict[str, str] = {k: v["effect"] for k, v in spec["actions"].items()}
        self.lookups: dict[str, Lookup] = {}
        self.environment_ids: str | None = None

    def add(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def build(self, name: str, source: str) -> RouteMap | None:
        for action in self.actions:
            if not is_valid_action(action, allow_wildcards=False):
                self.add(f"spec.actions.{action}", "is not a valid action (resource:action)")
        graphql_doc = self.spec.get("graphql")
        endpoint = graphql_doc["endpoint"] if graphql_doc else ""
        compiled = LookupCompiler(self.problems, self.spec).compile(endpoint)
        self.lookups, self.environment_ids = compiled
        self.calls = CallCompiler(
            self.problems,
            self.actions,
            self.lookups,
            self.spec.get("lookups", {}),
            has_environment_ids="environment_ids" in self.spec,
        )
        index: dict[str, PathIndex[Route]] = {}
        rules = tuple(
            r
            for i, rdoc in enumerate(self.spec.get("rest", []))
            if (r := self._rest_rule(i, rdoc)) is not None
        )
        graphql = self._graphql(graphql_doc) if graphql_doc else None
        if graphql is not None:
            for method in ("GET", "POST"):
                index.setdefault(method, PathIndex()).add(graphql.endpoint, graphql)
        for rule in rules:
            self._insert(index, rule)
        headers, found = parse_headers(self.spec)
        resource_types, more = parse_resource_types(self.spec)
        self.problems.extend(found + more)
        if self.problems:
            return None
        auth = self.spec["auth"]
        body = self.spec.get("body", {})
        identity = self.spec.get("environments", {})
        return RouteMap(
            name=name,
            provider=self.spec["provider"],
            upstream=self.spec["upstream"],
            auth=AuthSpec(auth["header"], auth["format"]),
            auth_alternatives={
                k: AuthSpec(v["header"], v["format"])
                for k, v in auth.get("alternatives", {}).items()
            },
            environments=EnvironmentIdentity(
                identity.get("qualified_by"), identity.get("parts", 1)
            ),
            paths=self.options,
            body=BodySpec(
                body.get("max_bytes", DEFAULT_BODY.max_bytes),
                frozenset(body.get("content_types", DEFAULT_BODY.content_types)),
            ),
            actions=self.actions,
            lookups=self.lookups,
            environment_ids=self.environment_ids,
            inventory={k: tuple(v) for k, v in self.spec.get("inventory", {}).items()},
            rest=rules,
            graphql=graphql,
            source=source,
            _index=index,
            headers=headers,
            resource_types=resource_types,
        )

    # --- REST ----------------------------------------------------------------------------

    def _rest_rule(self, i: int, doc: dict[str, Any]) -> RestRule | None:
        at = f"spec.rest[{i}]"
        try:
            template = parse_path_template(
                doc["path"], case_insensitive=self.options.case_insensitive
            )
        except PathTemplateError as exc:
            self.add(f"{at}.path", f"{doc['path']!r} {exc}")
            return None
        params = frozenset(template.params)

        def refs(ref: tuple[str, ...]) -> str | None:
            if ref[0] == "body" and len(ref) > 1:
                return None
            if len(ref) == 1 and ref[0] in params:
                return None
            return "is neither a parameter of the path nor body.<field>"

        call = self.calls.entry(at, doc, refs)
        if call is None:
            return None
        read = call.references() if isinstance(call, CallSpec) else set()
        body_refs = sorted(r[1:] for r in read if r[0] == "body" and len(r) > 1)
        if body_refs and doc["method"] in ("GET", "HEAD"):
            self.add(at, "a GET rule cannot read {body.*}")
        accepts, found = parse_accepts(at, doc, body_refs)
        self.problems.extend(found)
        return RestRule(doc["method"], template, call, accepts.reads_body, i, accepts)

    def _insert(self, index: dict[str, PathIndex[Route]], rule: RestRule) -> None:
        trie = index.setdefault(rule.method, PathIndex())
        clashes = trie.overlaps(rule.template)
        for other_template, other in clashes:
            what = (
                f"spec.rest[{other.index}] ({other.label})"
                if isinstance(other, RestRule)
                else f"the GraphQL endpoint {other_template.text}"
            )
            self.add(f"spec.rest[{rule.index}].path", f"overlaps {what}: some request matches both")
        if not clashes:
            trie.add(rule.template, rule)

    # --- GraphQL -------------------------------------------------------------------------

    def _graphql(self, doc: dict[str, Any]) -> GraphQLSpec | None:
        at = "spec.graphql"
        try:
            endpoint = parse_path_template(
                doc["endpoint"], case_insensitive=self.options.case_insensitive
            )
        except PathTemplateError as exc:
            self.add(f"{at}.endpoint", f"{doc['endpoint']!r} {exc}")
            return None
        if endpoint.params:
            self.add(f"{at}.endpoint", "must be a fixed path (no parameters)")
        fields: dict[OperationType, dict[str, CallSpec | Refused]] = {}
        for op in OPERATIONS:
            for fname, fdoc in doc.get("operations", {}).get(op, {}).items():
                fat = f"{at}.operations.{op}.{fname}"
                call = (
                    Refused(fdoc["refuse"])
                    if "refuse" in fdoc
                    else self.calls.call(fat, fdoc, _args_refs, nested_refs=_nested_refs)
                )
                if call is not None:
                    fields.setdefault(op, {})[fname] = call
        nested = self.calls.nested(f"{at}.nested", doc.get("nested", {}), _nested_refs)
        introspection = None
        if "introspection" in doc:
            introspection = self.calls.call(
                f"{at}.introspection",
                {**doc["introspection"], "environment": {"unscoped": True}},
                _args_refs,
            )
        return GraphQLSpec(
            endpoint,
            fields,
            introspection,
            GraphQLLimits(**doc.get("limits", {})),
            nested,
        )


def _args_refs(ref: tuple[str, ...]) -> str | None:
    if ref[0] == "args" and len(ref) > 1:
        return None
    return "must name a field argument as args.<name>"


def _nested_refs(ref: tuple[str, ...]) -> str | None:
    if ref[0] in ("args", "here") and len(ref) > 1:
        return None
    return "must name a root field argument (args.<name>) or the nested field's (here.<name>)"
