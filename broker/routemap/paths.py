"""REST path templates, their overlap test and the trie that matches them.

A template is ``/literal/{param}/.../{rest+}``: a ``{name}`` segment matches
exactly one non-empty segment, a final ``{name+}`` matches one or more. The
trie is keyed on literal segments, so a lookup costs the path's depth, not
the number of rules; inserting a rule first asks the trie for every earlier
rule that could match one same path, which is how overlaps are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

R = TypeVar("R")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
LITERAL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,=:@"
)


class PathTemplateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    tail: bool = False  # {name+}: one or more segments, joined with '/'


Segment = str | Param


@dataclass(frozen=True, slots=True)
class PathTemplate:
    text: str
    segments: tuple[Segment, ...]

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.segments if isinstance(s, Param))

    def match(self, path: tuple[str, ...]) -> dict[str, str] | None:
        """Reference matcher (linear); the trie is the fast one."""
        values: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if isinstance(seg, Param) and seg.tail:
                if len(path) <= i:
                    return None
                values[seg.name] = "/".join(path[i:])
                return values
            if i >= len(path):
                return None
            if isinstance(seg, Param):
                values[seg.name] = path[i]
            elif seg != path[i]:
                return None
        return values if len(path) == len(self.segments) else None


def parse_path_template(text: str, *, case_insensitive: bool = False) -> PathTemplate:
    if not text.startswith("/"):
        raise PathTemplateError("must start with '/'")
    if text == "/":
        return PathTemplate(text, ())
    if text.endswith("/"):
        raise PathTemplateError("must not end with '/'")
    out: list[Segment] = []
    names: set[str] = set()
    raw = text[1:].split("/")
    for i, seg in enumerate(raw):
        if seg.startswith("{") and seg.endswith("}"):
            name = seg[1:-1]
            tail = name.endswith("+")
            name = name.removesuffix("+")
            if not _NAME.match(name):
                raise PathTemplateError(f"{seg!r} is not a valid parameter")
            if name in names:
                raise PathTemplateError(f"parameter {name!r} appears twice")
            if tail and i != len(raw) - 1:
                raise PathTemplateError(f"{seg!r} may only be the last segment")
            names.add(name)
            out.append(Param(name, tail))
            continue
        if not seg:
            raise PathTemplateError("has an empty segment ('//')")
        if seg in (".", ".."):
            raise PathTemplateError("has a '.' or '..' segment")
        if not set(seg) <= LITERAL_CHARS:
            raise PathTemplateError(
                f"segment {seg!r} must be a whole {{param}} or plain characters "
                "(letters, digits, -._~!$&'()*+,=:@)"
            )
        if case_insensitive and seg != seg.lower():
            raise PathTemplateError(f"segment {seg!r} must be lower case (case-insensitive map)")
        out.append(seg)
    return PathTemplate(text, tuple(out))


@dataclass(slots=True)
class _Node(Generic[R]):
    literals: dict[str, _Node[R]] = field(default_factory=dict)
    param: _Node[R] | None = None
    rule: tuple[PathTemplate, R] | None = None  # a template ending here
    tail: tuple[PathTemplate, R] | None = None  # a {rest+} template ending here


class PathIndex(Generic[R]):
    """Templates of one method; ``add`` refuses overlaps, ``match`` is depth-bound."""

    def __init__(self) -> None:
        self._root: _Node[R] = _Node()

    def overlaps(self, template: PathTemplate) -> list[tuple[PathTemplate, R]]:
        found: list[tuple[PathTemplate, R]] = []
        self._overlaps(self._root, template.segments, 0, found)
        return found

    def add(self, template: PathTemplate, value: R) -> None:
        """Insert; the caller checks ``overlaps`` first (this refuses exact clashes only)."""
        node = self._root
        for seg in template.segments:
            if isinstance(seg, Param) and seg.tail:
                if node.tail is not None:
                    raise ValueError("overlapping templates")
                node.tail = (template, value)
                return
            if isinstance(seg, Param):
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.literals.setdefault(seg, _Node())
        if node.rule is not None:
            raise ValueError("overlapping templates")
        node.rule = (template, value)

    def match(self, path: tuple[str, ...]) -> list[tuple[R, dict[str, str]]]:
        """Every template matching ``path`` (at most one once overlaps are refused)."""
        found: list[tuple[R, dict[str, str]]] = []
        self._match(self._root, path, 0, found)
        return found

    def _match(
        self, node: _Node[R], path: tuple[str, ...], i: int, found: list[tuple[R, dict[str, str]]]
    ) -> None:
        if i == len(path):
            if node.rule is not None:
                template, value = node.rule
                found.append((value, _bind(template, path)))
            return
        child = node.literals.get(path[i])
        if child is not None:
            self._match(child, path, i + 1, found)
        if node.param is not None:
            self._match(node.param, path, i + 1, found)
        if node.tail is not None:
            template, value = node.tail
            found.append((value, _bind(template, path)))

    def _overlaps(
        self,
        node: _Node[R],
        segs: tuple[Segment, ...],
        i: int,
        found: list[tuple[PathTemplate, R]],
    ) -> None:
        if i == len(segs):
            if node.rule is not None:
                found.append(node.rule)
            return
        seg = segs[i]
        if isinstance(seg, Param) and seg.tail:
            found.extend(_below(node))
            return
        if node.tail is not None:
            found.append(node.tail)
        if isinstance(seg, Param):
            for child in node.literals.values():
                self._overlaps(child, segs, i + 1, found)
        elif seg in node.literals:
            self._overlaps(node.literals[seg], segs, i + 1, found)
        if node.param is not None:
            self._overlaps(node.param, segs, i + 1, found)


def _below(node: _Node[R]) -> Iterator[tuple[PathTemplate, R]]:
    """Every template reachable by one or more segments from ``node``."""
    if node.tail is not None:
        yield node.tail
    children = list(node.literals.values())
    if node.param is not None:
        children.append(node.param)
    for child in children:
        if child.rule is not None:
            yield child.rule
        yield from _below(child)


def _bind(template: PathTemplate, path: tuple[str, ...]) -> dict[str, str]:
    values = template.match(path)
    assert values is not None  # the trie only reaches templates that match
    return values
