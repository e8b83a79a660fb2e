"""Lookup documents -> ``Lookup``: queries, result paths, formats, pages, chains and the
cache policy, with their cross-field rules (parameters, chain length and loops, the
``spec.environment_ids`` lookup). Used by ``broker.routemap.compile``; problems are
appended to the builder's list, never raised.
"""

from __future__ import annotations

from typing import Any

from broker.routemap.compile_calls import Refs
from broker.routemap.lookups import MAX_CHAIN, MAX_PAGES, Lookup, Pages, Then
from broker.routemap.paths import PathTemplateError, parse_path_template
from broker.routemap.resultpath import ResultPathError, parse_result_path
from broker.routemap.templates import Template, TemplateSyntaxError, parse_template

DEFAULT_IMMUTABLE_SECONDS = 300


class LookupCompiler:
    def __init__(self, problems: list[tuple[str, str]], spec: dict[str, Any]) -> None:
        self.problems = problems
        self.spec = spec
        self.lookups: dict[str, Lookup] = {}
        self.environment_ids: str | None = None

    def add(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def compile(self, endpoint: str) -> tuple[dict[str, Lookup], str | None]:
        """The valid lookups by name, and the one named by ``spec.environment_ids``."""
        for lname, ldoc in self.spec.get("lookups", {}).items():
            lookup = self._lookup(lname, ldoc, endpoint)
            if lookup is not None:
                self.lookups[lname] = lookup
        self._environment_ids()
        self._chains()
        return self.lookups, self.environment_ids

    def _lookup(self, name: str, doc: dict[str, Any], endpoint: str) -> Lookup | None:
        at = f"spec.lookups.{name}"
        before = len(self.problems)
        params: set[str] = set()
        try:
            result = parse_result_path(doc["result"])
            params |= result.params
        except ResultPathError as exc:
            self.add(f"{at}.result", str(exc))
        variables = []
        for key, text in doc.get("variables", {}).items():
            template = self._template(f"{at}.variables.{key}", text, _simple_refs(params))
            if template is not None:
                variables.append((key, template))
        get = None
        if "get" in doc:
            try:
                get = parse_path_template(doc["get"])
                if any(p.tail for p in get.segments if not isinstance(p, str)):
                    self.add(f"{at}.get", "a lookup path cannot have a {rest+} parameter")
                params |= set(get.params)
            except PathTemplateError as exc:
                self.add(f"{at}.get", str(exc))
        elif not endpoint:
            self.add(f"{at}.graphql", "GraphQL lookups need spec.graphql.endpoint")
        fmt = None
        if "format" in doc:
            fmt = self._format(f"{at}.format", doc["format"])
        pages = self._pages(f"{at}.pages", doc["pages"], doc) if "pages" in doc else None
        then = None
        if "then" in doc:
            then = Then(doc["then"]["lookup"], doc["then"]["param"])
        cache = doc.get("cache")
        immutable = cache == "immutable"
        seconds = doc.get("cache_seconds", 0)
        if immutable:
            seconds = doc.get("cache_seconds", DEFAULT_IMMUTABLE_SECONDS)
        elif isinstance(cache, dict):
            seconds = cache["seconds"]
        if len(self.problems) > before:
            return None
        return Lookup(
            name=name,
            result=result,
            params=frozenset(params),
            yields=doc.get("yields", "names"),
            cache_seconds=seconds,
            graphql=doc.get("graphql"),
            variables=tuple(variables),
            graphql_endpoint=endpoint,
            get=get,
            format=fmt,
            pages=pages,
            then=then,
            immutable=immutable,
            timeout_seconds=doc.get("timeout_seconds", 10),
        )

    def _format(self, at: str, text: str) -> Template | None:
        try:
            template = parse_template(text)
        except TemplateSyntaxError as exc:
            self.add(at, f"{text!r} {exc}")
            return None
        if not template.placeholders or any(p.each for p in template.placeholders):
            self.add(at, f"{text!r} needs plain {{field}} placeholders (no [*])")
        return template

    def _pages(self, at: str, doc: dict[str, Any], lookup: dict[str, Any]) -> Pages | None:
        if "graphql" not in lookup:
            self.add(at, "only GraphQL lookups page (with a cursor variable)")
            return None
        if doc["variable"] in lookup.get("variables", {}):
            self.add(f"{at}.variable", "the gateway sets the page variable: not in variables")
        try:
            cursor = parse_result_path(doc["cursor"])
            more = parse_result_path(doc["more"])
        except ResultPathError as exc:
            self.add(at, str(exc))
            return None
        return Pages(cursor, more, doc["variable"], min(doc.get("max", 10), MAX_PAGES))

    def _chains(self) -> None:
        """``then`` names a lookup taking ``param`` only; chains end within MAX_CHAIN."""
        for name, lookup in self.lookups.items():
            at = f"spec.lookups.{name}.then"
            seen = [name]
            current: Lookup | None = lookup
            while current is not None and current.then is not None:
                nxt = self.lookups.get(current.then.lookup)
                if nxt is None:
                    if current is lookup:
                        self.add(at, f"names no valid lookup ({current.then.lookup!r})")
                    break
                if current is lookup and nxt.params != {current.then.param}:
                    wanted = sorted(nxt.params)
                    self.add(at, f"{nxt.name} takes {wanted}, not {current.then.param!r}")
                if nxt.name in seen:
                    self.add(at, "the chain of then lookups loops")
                    break
                seen.append(nxt.name)
                if len(seen) > MAX_CHAIN:
                    self.add(at, f"a chain of then lookups is at most {MAX_CHAIN} long")
                    break
                current = nxt

    def _environment_ids(self) -> None:
        ref = self.spec.get("environment_ids")
        if ref is not None:
            at = "spec.environment_ids.lookup"
            lookup = self.lookups.get(ref["lookup"])
            if lookup is None:
                self.add(at, f"names no lookup in spec.lookups ({ref['lookup']!r})")
            elif len(lookup.params) != 1 or lookup.yields != "names":
                self.add(at, "must name a lookup with exactly one parameter that yields names")
            else:
                self.environment_ids = lookup.name
        for lname, lookup in self.lookups.items():
            if lookup.yields == "environment_ids" and self.environment_ids is None:
                self.add(f"spec.lookups.{lname}.yields", "needs spec.environment_ids")

    # --- call specs ----------------------------------------------------------------------

    def _template(self, at: str, text: str, refs: Refs) -> Template | None:
        try:
            template = parse_template(text)
        except TemplateSyntaxError as exc:
            self.add(at, f"{text!r} {exc}")
            return None
        for p in template.placeholders:
            problem = refs(p.ref)
            if problem:
                self.add(at, f"{{{p.dotted}}} {problem}")
        return template


def _simple_refs(params: set[str]) -> Refs:
    def refs(ref: tuple[str, ...]) -> str | None:
        if len(ref) != 1:
            return "must be a plain lookup parameter name"
        params.add(ref[0])
        return None

    return refs
