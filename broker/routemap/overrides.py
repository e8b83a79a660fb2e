"""Method overrides in every spelling in use: a permissive server would act on one as
another verb than the one classified, so the gateway refuses them wherever they appear
(headers, query parameters, form and JSON bodies), declared or not."""

from __future__ import annotations

OVERRIDE_HEADERS = frozenset({"x-http-method-override", "x-http-method", "x-method-override"})


def spelled(name: str) -> str:
    """A header name as servers that treat ``_`` like ``-`` (CGI, WSGI, some proxies) read it."""
    return name.lower().replace("_", "-")


def is_override_header(name: str) -> bool:
    return spelled(name) in OVERRIDE_HEADERS


def is_override_field(key: str) -> bool:
    """A JSON body key that override middleware reads as the method (``method`` alone is an
    ordinary field name in many APIs)."""
    return key.lower() == "_method" or is_override_header(key)


def is_override_param(name: str) -> bool:
    """``_method``/``method`` (Rails, Laravel, Symfony, method-override) or a header spelling."""
    return name.lower() == "method" or is_override_field(name)
