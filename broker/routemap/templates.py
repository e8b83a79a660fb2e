"""Value templates: ``"volume:{args.volumeId}"``, ``"{body.environment|production}"``.

A template is literal text with ``{ref}`` placeholders. ``ref`` is a dotted
name (``owner``, ``args.input.id``, ``body.environment``); ``{ref|text}`` uses
``text`` when the request does not carry ``ref`` at all (absent or null).
Braces never appear literally. Filled values must be short printable scalars that read
as ids (``broker.routemap.values.check_value``).

One step of one placeholder may be ``name[*]`` (``{args.input.wipeServiceIds[*]}``):
``fill_each`` then gives one string per element of that list (resources only; the
compiler refuses it elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from broker.routemap.errors import BAD_VALUE, MISSING_VALUE, bad_request
from broker.routemap.values import check_value

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*(\[\*\])?"
_REF = re.compile(rf"{_NAME}(\.{_NAME})*\Z")
EACH = "*"  # the ref step that stands for "every element of the list so far"
MAX_EACH = 100  # one template never expands to more values than this


class TemplateSyntaxError(ValueError):
    pass


class _Missing:
    pass


MISSING = _Missing()
Resolver = Callable[[tuple[str, ...]], object]  # returns MISSING when absent


@dataclass(frozen=True, slots=True)
class Placeholder:
    ref: tuple[str, ...]
    default: str | None = None

    @property
    def dotted(self) -> str:
        return ".".join(self.ref).replace(".*", "[*]")

    @property
    def each(self) -> bool:
        return EACH in self.ref


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    parts: tuple[str | Placeholder, ...]
    each: Placeholder | None = None  # the one placeholder with ``[*]``, if any

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    def fill(self, resolve: Resolver) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(_value(part, resolve(part.ref)))
        return "".join(out)

    def fill_each(self, resolve: Resolver) -> tuple[str, ...]:
        """``fill``, or one value per list element when a placeholder has ``[*]``."""
        each = self.each
        if each is None:
            return (self.fill(resolve),)
        at = each.ref.index(EACH)
        items = resolve(each.ref[:at])
        if items is MISSING or items is None:
            items = []
        if not isinstance(items, list):
            raise bad_request(BAD_VALUE, f"{each.dotted} must be a list")
        if len(items) > MAX_EACH:
            raise bad_request(BAD_VALUE, f"{each.dotted} has more than {MAX_EACH} elements")
        out = []
        for item in items:
            element = dig(item, each.ref[at + 1 :])

            def one(ref: tuple[str, ...], element: object = element) -> object:
                return element if ref == each.ref else resolve(ref)

            out.append(self.fill(one))
        return tuple(dict.fromkeys(out))

    def can_fill(self, resolve: Resolver) -> bool:
        """Whether the request carries every placeholder that has no default."""
        return all(
            p.default is not None or resolve(p.ref) not in (MISSING, None)
            for p in self.placeholders
        )


def parse_template(text: str) -> Template:
    parts: list[str | Placeholder] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        literal = text[pos : m.start()]
        if "{" in literal or "}" in literal:
            raise TemplateSyntaxError("has an unbalanced '{' or '}'")
        if literal:
            parts.append(literal)
        ref, bar, default = m.group(1).partition("|")
        if not _REF.match(ref):
            raise TemplateSyntaxError(f"{{{m.group(1)}}} is not a valid placeholder")
        if bar and (not default or "|" in default):
            raise TemplateSyntaxError(f"{{{m.group(1)}}} has an empty or doubled default")
        steps: list[str] = []
        for step in ref.split("."):
            steps.extend((step[:-3], EACH) if step.endswith("[*]") else (step,))
        if steps.count(EACH) > 1:
            raise TemplateSyntaxError(f"{{{m.group(1)}}} may use [*] once")
        parts.append(Placeholder(tuple(steps), default if bar else None))
        pos = m.end()
    rest = text[pos:]
    if "{" in rest or "}" in rest:
        raise TemplateSyntaxError("has an unbalanced '{' or '}'")
    if rest:
        parts.append(rest)
    each = next((p for p in parts if isinstance(p, Placeholder) and p.each), None)
    return Template(text, tuple(parts), each)


def _value(p: Placeholder, raw: object) -> str:
    if raw is MISSING or raw is None:
        if p.default is not None:
            return p.default
        raise bad_request(MISSING_VALUE, f"the request does not carry {p.dotted}")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise bad_request(BAD_VALUE, f"{p.dotted} must be a string or an integer")
    return check_value(raw if isinstance(raw, str) else str(raw), p.dotted)


def dig(value: object, path: tuple[str, ...]) -> object:
    """``value[path[0]][path[1]]...`` through JSON objects, or ``MISSING``."""
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value
