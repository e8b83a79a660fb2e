"""``routemap check`` for the allowlists: a REST rule's ``query`` and ``body.fields``
against what the description's operations take (notes, never errors: a description may
be older than the provider, and a map may list less than it allows on purpose).

Two notes per rule at most: names the rule declares that no matched operation lists
(a typo, or a field newer than the description), and names the description lists that
the rule does not declare (ordinary calls sending them are refused).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from broker.routemap.routemap import RestRule

MAX_SHOWN = 8


class Described(Protocol):
    @property
    def query_parameters(self) -> frozenset[str] | None: ...
    @property
    def body_properties(self) -> frozenset[str] | None: ...


def allowlist_notes(rule: RestRule, hits: Iterable[Described]) -> list[str]:
    ops = list(hits)
    accepts = rule.accepts
    out: list[str] = []
    queries = [o.query_parameters for o in ops if o.query_parameters is not None]
    if queries and accepts.query is not None:
        out += _compare(rule.label, "query", accepts.query, frozenset().union(*queries))
    bodies = [o.body_properties for o in ops if o.body_properties is not None]
    if bodies and accepts.body == "fields":
        out += _compare(rule.label, "body", accepts.fields, frozenset().union(*bodies))
    return out


def _compare(label: str, what: str, declared: frozenset[str], known: frozenset[str]) -> list[str]:
    out = []
    if extra := declared - known:
        out.append(f"{label}: {what} declares what the description does not list: {_show(extra)}")
    if missing := known - declared:
        out.append(f"{label}: {what} leaves out (refused): {_show(missing)}")
    return out


def _show(names: frozenset[str]) -> str:
    shown = sorted(names)
    more = f" (+{len(shown) - MAX_SHOWN} more)" if len(shown) > MAX_SHOWN else ""
    return ", ".join(shown[:MAX_SHOWN]) + more
