"""Which agent a verified workload token is (pure): claim patterns -> an agent name.

A rule is ``match`` (claim path -> pattern) and ``name`` (a template). A claim path is
``/``-separated for nested claims (``kubernetes.io/serviceaccount/name``); a pattern is
literal text with ``*`` (any run of characters) and ``{var}`` (one run of
``[A-Za-z0-9._-]``, captured). Every claim a rule names must be a string that its
pattern matches whole. The name template uses the captures; the result, lower-cased,
must be a valid agent name.

Exactly one rule may match: none or several is a refusal (never "first match wins").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broker.services.principals import NAME as AGENT_NAME
from broker.tokens import InvalidToken

_VAR = re.compile(r"\{([a-z][a-z0-9_]{0,31})\}")


class RuleError(ValueError):
    """A rule that cannot be compiled (reported when the issuer file is read)."""


@dataclass(frozen=True)
class AgentRule:
    name: str
    match: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...]

    @classmethod
    def compile(cls, name: str, match: Mapping[str, str]) -> AgentRule:
        captured: set[str] = set()
        compiled = []
        for path, pattern in match.items():
            keys = tuple(path.split("/"))
            if not all(keys):
                raise RuleError(f"claim path {path!r} has an empty segment")
            compiled.append((keys, _compile(pattern, captured)))
        unknown = set(_VAR.findall(name)) - captured
        if unknown:
            raise RuleError(f"name {name!r} uses {', '.join(sorted(unknown))}, captured nowhere")
        leftover = _VAR.sub("x", name)
        if "{" in leftover or "}" in leftover:
            raise RuleError(f"name {name!r} has a malformed placeholder")
        return cls(name, tuple(compiled))

    def agent_for(self, claims: Mapping[str, Any]) -> str | None:
        captures: dict[str, str] = {}
        for keys, pattern in self.match:
            value = _claim(claims, keys)
            if not isinstance(value, str):
                return None
            found = pattern.fullmatch(value)
            if found is None:
                return None
            for var, text in found.groupdict().items():
                if captures.setdefault(var, text) != text:
                    return None  # one variable captured two different values
        return _VAR.sub(lambda m: captures[m.group(1)], self.name).lower()


def _compile(pattern: str, captured: set[str]) -> re.Pattern[str]:
    out, pos = [], 0
    seen_here: set[str] = set()
    for m in re.finditer(r"\{[^}]*\}|\*", pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        token = m.group(0)
        if token == "*":
            out.append(".*")
        else:
            var = _VAR.fullmatch(token)
            if var is None:
                raise RuleError(f"pattern {pattern!r}: {token} is not a placeholder like {{name}}")
            name = var.group(1)
            if name in seen_here:
                out.append(f"(?P={name})")
            else:
                out.append(f"(?P<{name}>[A-Za-z0-9._-]+)")
                seen_here.add(name)
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    captured |= seen_here
    return re.compile("".join(out), re.DOTALL)


def _claim(claims: Mapping[str, Any], keys: tuple[str, ...]) -> object:
    node: object = claims
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def agent_name(rules: Sequence[AgentRule], claims: Mapping[str, Any]) -> str:
    """The one agent ``claims`` map to; ``InvalidToken`` if none, several, or not a name."""
    names = {n for n in (r.agent_for(claims) for r in rules) if n is not None}
    if not names:
        raise InvalidToken("no agent rule matches the token's claims")
    if len(names) > 1:
        raise InvalidToken("more than one agent rule matches the token's claims")
    (name,) = names
    if AGENT_NAME.fullmatch(name) is None:
        raise InvalidToken("the mapped agent name is not a valid name")
    return name
