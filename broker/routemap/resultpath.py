"""The tiny path language that picks environments out of a lookup's JSON answer.

    data.volume.environments[*].name
    data.projects[*].volumes[*].backups[?id=={backupId}].environmentId
    environment

Steps are separated by '.'; each is an object key optionally followed by
selectors: ``[*]`` (every element of a list), ``[N]`` (one element) or
``[?key=={param}]`` / ``[?key=="text"]`` (the elements of a list whose ``key``
equals the lookup parameter or text; ``key`` may itself be a small path such
as ``backups[*].id``, and then any value there may match). A missing key, a null, a wrong type or
a non-string leaf makes the whole answer unresolved (the gateway denies).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from broker.routemap.errors import unresolved

_KEY = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP = re.compile(rf"({_KEY})(\[.*\])?\Z")
_FILTER = re.compile(rf'\?({_KEY}(?:\.{_KEY}|\.?\[\*\])*)==(?:\{{({_KEY})\}}|"([^"\\{{}}]*)")\Z')
MAX_RESULTS = 256


class ResultPathError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Key:
    name: str


@dataclass(frozen=True, slots=True)
class Every:
    pass


@dataclass(frozen=True, slots=True)
class Index:
    n: int


@dataclass(frozen=True, slots=True)
class Filter:
    key: tuple[Key | Every, ...]  # a small path inside each element
    param: str | None  # compare with this lookup parameter ...
    text: str | None  # ... or with this text


Step = Key | Every | Index | Filter


@dataclass(frozen=True, slots=True)
class ResultPath:
    text: str
    steps: tuple[Step, ...]

    @property
    def params(self) -> frozenset[str]:
        return frozenset(s.param for s in self.steps if isinstance(s, Filter) and s.param)

    def select(self, document: object, params: Mapping[str, str]) -> list[object]:
        """The values the path selects (any JSON); a missing key or null: ``Denied``."""
        current: list[object] = [document]
        for step in self.steps:
            current = _apply(step, current, params)
        return current

    def evaluate(
        self, document: object, params: Mapping[str, str], *, allow_empty: bool = False
    ) -> tuple[str, ...]:
        """The strings the path selects; raises ``Denied(environment_unresolved)`` else."""
        return self.strings(self.select(document, params), allow_empty=allow_empty)

    @staticmethod
    def strings(values: Sequence[object], *, allow_empty: bool = False) -> tuple[str, ...]:
        """``values`` as distinct non-empty strings, under the cap, or ``Denied``."""
        if not values and not allow_empty:
            raise unresolved("the lookup found no environment")
        if len(values) > MAX_RESULTS:
            raise unresolved("the lookup found too many environments")
        out = []
        for value in values:
            if not isinstance(value, str) or not value:
                raise unresolved("the lookup answered something other than names")
            out.append(value)
        return tuple(dict.fromkeys(out))


def _apply(step: Step, values: list[object], params: Mapping[str, str]) -> list[object]:
    out: list[object] = []
    for value in values:
        if isinstance(step, Key):
            if not isinstance(value, dict) or value.get(step.name) is None:
                raise unresolved(f"the lookup answer has no {step.name!r}")
            out.append(value[step.name])
            continue
        if not isinstance(value, list):
            raise unresolved("the lookup answer has no list where one was expected")
        if isinstance(step, Every):
            out.extend(value)
        elif isinstance(step, Index):
            if step.n >= len(value):
                raise unresolved("the lookup answer's list is too short")
            out.append(value[step.n])
        else:
            want = params[step.param] if step.param is not None else step.text
            out.extend(item for item in value if want in _leaves(item, step.key))
    return out


def _leaves(item: object, path: tuple[Key | Every, ...]) -> set[str]:
    """The scalar values at ``path`` inside ``item``, leniently (missing: none)."""
    current = [item]
    for step in path:
        nxt: list[object] = []
        for v in current:
            if isinstance(step, Key) and isinstance(v, dict) and step.name in v:
                nxt.append(v[step.name])
            elif isinstance(step, Every) and isinstance(v, list):
                nxt.extend(v)
        current = nxt
    return {str(v) for v in current if isinstance(v, str | int) and not isinstance(v, bool)}


def parse_result_path(text: str) -> ResultPath:
    if not text:
        raise ResultPathError("is empty")
    steps: list[Step] = []
    for raw in _split(text):
        m = _STEP.match(raw)
        if not m:
            raise ResultPathError(f"step {raw!r} is not key, key[*], key[N] or key[?k=={{p}}]")
        steps.append(Key(m.group(1)))
        for sel in _selectors(m.group(2) or "", raw):
            steps.append(_selector(sel))
    return ResultPath(text, tuple(steps))


def _split(text: str) -> list[str]:
    # '.' separates steps, except inside [...] (a filter's quoted text may hold one).
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif c == "." and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _selectors(text: str, raw: str) -> list[str]:
    """``[a][?b[*].c==..]`` -> ``['a', '?b[*].c==..']`` (brackets may nest once)."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "[":
            if depth == 0:
                start = i + 1
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                out.append(text[start:i])
            elif depth < 0:
                break
        elif depth == 0:
            break
    else:
        if depth == 0:
            return out
    raise ResultPathError(f"step {raw!r} has unbalanced brackets")


def _selector(sel: str) -> Step:
    if sel == "*":
        return Every()
    if re.fullmatch(r"[0-9]{1,4}", sel):
        return Index(int(sel))
    m = _FILTER.match(sel)
    if not m:
        raise ResultPathError(f"selector [{sel}] is not [*], [N] or [?key=={{param}}]")
    key: list[Key | Every] = []
    for part in re.findall(rf"{_KEY}|\[\*\]", m.group(1)):
        key.append(Every() if part == "[*]" else Key(part))
    return Filter(tuple(key), m.group(2), m.group(3))
