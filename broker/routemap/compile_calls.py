"""Call documents -> ``CallSpec``: actions, resources, environment sources, ``when``
cases, relation ``checks`` and ``nested`` rules, with their cross-field rules.

Used by ``broker.routemap.compile``; problems are appended to the builder's list
as ``(path, message)``, never raised, so one run reports them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from broker.routemap.callspec import CallSpec, Case, CheckSpec, EnvKind, EnvSpec, Refused
from broker.routemap.lookups import Lookup
from broker.routemap.templates import EACH, Template, TemplateSyntaxError, parse_template

Refs = Callable[[tuple[str, ...]], str | None]  # which {ref} a template may use: None = ok
_TEMPLATE_SOURCES: tuple[EnvKind, ...] = ("name", "environment_id", "inventory")


class CallCompiler:
    def __init__(
        self,
        problems: list[tuple[str, str]],
        actions: Mapping[str, str],
        lookups: Mapping[str, Lookup],
        declared_lookups: Mapping[str, object],
        *,
        has_environment_ids: bool,
    ) -> None:
        self.problems = problems
        self.actions = actions
        self.lookups = lookups
        self.declared_lookups = declared_lookups  # names in the document, valid or not
        self.has_environment_ids = has_environment_ids

    def add(self, at: str, message: str) -> None:
        self.problems.append((at, message))

    def template(self, at: str, text: str, refs: Refs, *, each: bool = False) -> Template | None:
        try:
            template = parse_template(text)
        except TemplateSyntaxError as exc:
            self.add(at, f"{text!r} {exc}")
            return None
        eaches = [p for p in template.placeholders if p.each]
        if eaches and not each:
            self.add(at, f"{text!r}: [*] is allowed in resources only")
        elif len(eaches) > 1:
            self.add(at, f"{text!r}: at most one placeholder may use [*]")
        for p in template.placeholders:
            problem = refs(tuple(s for s in p.ref if s != EACH))
            if problem:
                self.add(at, f"{{{p.dotted}}} {problem}")
        return template

    def entry(self, at: str, doc: dict[str, Any], refs: Refs) -> CallSpec | Refused | None:
        """A rule's or field's call, or its refusal (``{refuse: reason}``)."""
        if "refuse" in doc:
            return Refused(doc["refuse"])
        return self.call(at, doc, refs)

    def call(
        self, at: str, doc: dict[str, Any], refs: Refs, *, nested_refs: Refs | None = None
    ) -> CallSpec | None:
        before = len(self.problems)
        action = self._action(f"{at}.action", doc["action"])
        resources = self._resources(at, doc.get("resources", []), refs)
        envs = self._environment(f"{at}.environment", doc["environment"], refs)
        cases = tuple(
            c
            for i, cdoc in enumerate(doc.get("when", []))
            if (c := self._case(f"{at}.when[{i}]", cdoc, refs)) is not None
        )
        checks = tuple(
            k
            for i, kdoc in enumerate(doc.get("checks", []))
            if (k := self._check(f"{at}.checks[{i}]", kdoc, refs)) is not None
        )
        nested: dict[str, CallSpec | Refused] = {}
        if "nested" in doc:
            if nested_refs is None:
                self.add(f"{at}.nested", "only a GraphQL root field can declare nested rules")
            else:
                nested = self.nested(f"{at}.nested", doc["nested"], nested_refs)
        if len(self.problems) > before or action is None or envs is None:
            return None
        return CallSpec(action, self.actions[action], resources, envs, cases, checks, nested)

    def nested(
        self, at: str, docs: Mapping[str, dict[str, Any]], refs: Refs
    ) -> dict[str, CallSpec | Refused]:
        out: dict[str, CallSpec | Refused] = {}
        for name, ndoc in docs.items():
            spec = self.entry(f"{at}.{name}", ndoc, refs)
            if spec is not None:
                out[name] = spec
        return out

    # --- parts ---------------------------------------------------------------------------

    def _action(self, at: str, action: str) -> str | None:
        if action not in self.actions:
            self.add(at, f"{action!r} is not declared in spec.actions")
            return None
        return action

    def _resources(self, at: str, texts: list[str], refs: Refs) -> tuple[Template, ...]:
        found = [
            self.template(f"{at}.resources[{i}]", text, refs, each=True)
            for i, text in enumerate(texts)
        ]
        return tuple(t for t in found if t is not None)

    def _environment(
        self, at: str, doc: dict[str, Any] | list[dict[str, Any]], refs: Refs
    ) -> tuple[EnvSpec, ...] | None:
        docs = doc if isinstance(doc, list) else [doc]
        envs = [
            self._env(f"{at}[{i}]" if isinstance(doc, list) else at, e, refs)
            for i, e in enumerate(docs)
        ]
        if len(docs) > 1 and any("unscoped" in e for e in docs):
            self.add(at, "unscoped cannot be combined with other sources")
        if any(e is None for e in envs):
            return None
        return tuple(e for e in envs if e is not None)

    def _env(self, at: str, doc: dict[str, Any], refs: Refs) -> EnvSpec | None:
        if "unscoped" in doc:
            return EnvSpec("unscoped")
        if "unresolvable" in doc:
            why = doc.get("why", "the map cannot place this call in an environment")
            return EnvSpec("unresolvable", names=(why,))
        if "fixed" in doc:
            return EnvSpec("fixed", names=tuple(doc["fixed"]))
        if "first" in doc:
            alts = [self._env(f"{at}.first[{i}]", a, refs) for i, a in enumerate(doc["first"])]
            if any(a is None for a in alts):
                return None
            if any(a is not None and a.kind in ("unscoped", "first") for a in alts):
                self.add(f"{at}.first", "holds sources (no unscoped, no nested first)")
                return None
            return EnvSpec("first", alternatives=tuple(a for a in alts if a is not None))
        for kind in _TEMPLATE_SOURCES:
            if kind in doc:
                if kind == "environment_id" and not self.has_environment_ids:
                    self.add(at, "environment_id sources need spec.environment_ids")
                template = self.template(f"{at}.{kind}", doc[kind], refs)
                return EnvSpec(kind, template) if template else None
        bindings = self._bindings(at, doc["lookup"], doc.get("with", {}), refs)
        if bindings is None:
            return None
        return EnvSpec("lookup", lookup=doc["lookup"], bindings=bindings)

    def _bindings(
        self, at: str, lname: str, bound: Mapping[str, str], refs: Refs
    ) -> tuple[tuple[str, Template], ...] | None:
        lookup = self.lookups.get(lname)
        if lookup is None:
            if lname not in self.declared_lookups:
                self.add(f"{at}.lookup", f"names no lookup in spec.lookups ({lname!r})")
            return None
        if set(bound) != lookup.params:
            self.add(
                f"{at}.with", f"must bind exactly the lookup's parameters {sorted(lookup.params)}"
            )
            return None
        bindings = [(k, self.template(f"{at}.with.{k}", v, refs)) for k, v in bound.items()]
        if any(t is None for _, t in bindings):
            return None
        return tuple(sorted((k, t) for k, t in bindings if t is not None))

    def _case(self, at: str, doc: dict[str, Any], refs: Refs) -> Case | None:
        conditions = []
        for dotted, want in doc["if"].items():
            ref = tuple(dotted.split("."))
            problem = refs(ref)
            if problem:
                self.add(f"{at}.if.{dotted}", f"{{{dotted}}} {problem}")
            conditions.append((ref, want))
        action = self._action(f"{at}.action", doc["action"])
        resources = self._resources(at, doc["resources"], refs) if "resources" in doc else None
        envs = (
            self._environment(f"{at}.environment", doc["environment"], refs)
            if "environment" in doc
            else None
        )
        if action is None or ("environment" in doc and envs is None):
            return None
        return Case(tuple(conditions), action, self.actions[action], resources, envs)

    def _check(self, at: str, doc: dict[str, Any], refs: Refs) -> CheckSpec | None:
        bindings = self._bindings(at, doc["lookup"], doc.get("with", {}), refs)
        contains = self.template(f"{at}.contains", doc["contains"], refs)
        if bindings is None or contains is None:
            return None
        return CheckSpec(doc["lookup"], bindings, contains, doc["reason"])
