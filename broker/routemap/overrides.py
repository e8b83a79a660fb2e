"""Method overrides in every spelling in use: a permissive server would act on one as
another verb than the one classified, so the gateway refuses them wherever they appear
(headers, query parameters, form and JSON bodies), declared or not.

Names are compared folded: lower case, with ``-``, ``.``, ``[`` and space read as ``_``
(CGI and WSGI read ``-`` as ``_``; PHP turns ``.``, space and ``[`` in a parameter name
into ``_``, so ``?.method=DELETE`` reaches Laravel as ``_method``).
"""

from __future__ import annotations

_FOLD = str.maketrans("-. [", "____")
OVERRIDE_HEADERS = frozenset({"x-http-method-override", "x-http-method", "x-method-override"})
_HEADERS_FOLDED = frozenset(h.translate(_FOLD) for h in OVERRIDE_HEADERS)


def folded(name: str) -> str:
    return name.lower().translate(_FOLD)


def is_override_header(name: str) -> bool:
    return folded(name) in _HEADERS_FOLDED


def is_override_field(key: str) -> bool:
    """A JSON body key that override middleware reads as the method (``method`` alone is an
    ordinary field name in many APIs)."""
    fold = folded(key)
    return fold == "_method" or fold in _HEADERS_FOLDED


def is_override_param(name: str) -> bool:
    """``_method``/``method`` (Rails, Laravel, Symfony, method-override) or a header spelling."""
    return name.lower() == "method" or is_override_field(name)
