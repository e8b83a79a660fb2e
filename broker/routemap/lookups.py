"""Lookups: upstream queries the gateway makes with the master key to learn environments.

This module is the pure half: it renders the request to send (``request``)
and reads the environments out of the answer (``extract``). Sending it,
caching it for ``cache_seconds`` and mapping ids to names is the gateway's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from broker.routemap.errors import unresolved
from broker.routemap.paths import Param, PathTemplate
from broker.routemap.resultpath import ResultPath
from broker.routemap.templates import Template, dig

Yields = Literal["names", "environment_ids"]


@dataclass(frozen=True, slots=True)
class LookupRequest:
    method: Literal["GET", "POST"]
    path: str  # wire path below the provider's upstream base URL
    json: dict[str, Any] | None = None  # the body to POST (GraphQL lookups)


@dataclass(frozen=True, slots=True)
class Lookup:
    name: str
    result: ResultPath
    params: frozenset[str]
    yields: Yields = "names"
    cache_seconds: int = 0
    graphql: str | None = None  # the query document (POSTed to graphql_endpoint)
    variables: tuple[tuple[str, Template], ...] = ()
    graphql_endpoint: str = ""
    get: PathTemplate | None = None  # a REST GET path; parameters fill whole segments

    def request(self, params: Mapping[str, str]) -> LookupRequest:
        if set(params) != self.params:
            raise ValueError(f"lookup {self.name} takes exactly {sorted(self.params)}")
        if self.get is not None:
            parts = [
                quote(params[s.name], safe="") if isinstance(s, Param) else s
                for s in self.get.segments
            ]
            return LookupRequest("GET", "/" + "/".join(parts))
        variables = {k: t.fill(lambda ref: dig(params, ref)) for k, t in self.variables}
        body = {"query": self.graphql, "variables": variables}
        return LookupRequest("POST", self.graphql_endpoint, body)

    def extract(self, status: int, document: object, params: Mapping[str, str]) -> tuple[str, ...]:
        """Environment names (or ids, per ``yields``) in the answer, or ``Denied``."""
        if status != 200:
            raise unresolved(f"lookup {self.name} answered HTTP {status}")
        if self.graphql is not None and isinstance(document, dict) and document.get("errors"):
            raise unresolved(f"lookup {self.name} answered with GraphQL errors")
        return self.result.evaluate(document, params)
