"""Lookups: upstream queries the gateway makes with the master key to learn environments.

This module is the pure half: it renders the request to send (``request``, one
per page), reads the values out of the answer (``extract``) and finds the next
page's cursor (``next_cursor``). Sending it, following ``then``, caching it per
its policy and keeping within its caps is the gateway's job
(``broker.gateway.resolve``).

Cache policy: ``immutable`` relations (an environment's project) may be reused by
every call for ``cache_seconds``; a mutable one (``cache_seconds`` without
``immutable``) is reused by read calls only, and write and destructive calls ask
again, so a relation changed a moment ago cannot be used to place a write.
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
from broker.routemap.values import trusted

Yields = Literal["names", "environment_ids"]
MAX_PAGES = 50
MAX_CHAIN = 3  # a chain of ``then`` lookups is at most this deep


@dataclass(frozen=True, slots=True)
class Pages:
    """Relay paging: send again with ``variable`` = the value at ``cursor`` while ``more``."""

    cursor: ResultPath
    more: ResultPath
    variable: str
    max: int


@dataclass(frozen=True, slots=True)
class Then:
    """Every value this lookup yields is passed as ``param`` to ``lookup``."""

    lookup: str
    param: str


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
    format: Template | None = None  # each selected object -> one string
    pages: Pages | None = None
    then: Then | None = None
    immutable: bool = False
    timeout_seconds: float = 10.0

    def reusable(self, effect: str) -> bool:
        """Whether a cached answer may serve a call of this effect (the cache policy)."""
        return self.cache_seconds > 0 and (self.immutable or effect == "read")

    def request(self, params: Mapping[str, str], cursor: str | None = None) -> LookupRequest:
        if set(params) != self.params:
            raise ValueError(f"lookup {self.name} takes exactly {sorted(self.params)}")
        if self.get is not None:
            parts = [
                quote(params[s.name], safe="") if isinstance(s, Param) else s
                for s in self.get.segments
            ]
            return LookupRequest("GET", "/" + "/".join(parts))
        variables: dict[str, object] = {
            k: t.fill(lambda ref: trusted(dig(params, ref))) for k, t in self.variables
        }
        if self.pages is not None:
            variables[self.pages.variable] = cursor
        body = {"query": self.graphql, "variables": variables}
        return LookupRequest("POST", self.graphql_endpoint, body)

    def extract(
        self,
        status: int,
        document: object,
        params: Mapping[str, str],
        *,
        allow_empty: bool = False,
    ) -> tuple[str, ...]:
        """Environment names (or ids, per ``yields``) in the answer, or ``Denied``.

        An empty answer is unresolved unless ``allow_empty`` (one page of several, or
        the values of a relation check, where "none" is an answer)."""
        if status != 200:
            raise unresolved(f"lookup {self.name} answered HTTP {status}")
        if self.graphql is not None and isinstance(document, dict) and document.get("errors"):
            raise unresolved(f"lookup {self.name} answered with GraphQL errors")
        if self.format is None:
            return self.result.evaluate(document, params, allow_empty=allow_empty)
        template = self.format
        out = []
        for item in self.result.select(document, params):
            # a missing field of a selected object is unresolved, never a default
            def field(ref: tuple[str, ...], item: object = item) -> object:
                if len(ref) == 1 and ref[0] in params:  # the lookup's own parameter
                    return trusted(params[ref[0]])
                found = dig(item, ref)
                if not isinstance(found, str) or not found:
                    raise unresolved(f"lookup {self.name}: an answer lacks {'.'.join(ref)}")
                return trusted(found)  # the provider's word: its '/' are its own

            out.append(template.fill(field))
        return self.result.strings(out, allow_empty=allow_empty)

    def next_cursor(self, document: object) -> str | None:
        """The next page's cursor, or None when the answer says there is no more."""
        if self.pages is None:
            return None
        more = self.pages.more.select(document, {})
        if more != [True]:
            return None
        cursor = self.pages.cursor.select(document, {})
        if len(cursor) != 1 or not isinstance(cursor[0], str) or not cursor[0]:
            raise unresolved(f"lookup {self.name}: a next page has no cursor")
        return cursor[0]
