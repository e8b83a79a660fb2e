"""Allowlists: what a call may carry besides its method and path (issue 14).

A route map declares the headers its provider may receive (``spec.headers.forward``, on
top of ``SAFE_HEADERS``) and, per REST rule, the query parameters (``query``) and the
JSON body (``body``) it accepts. What a map does not declare never reaches the provider:
an undeclared header is dropped, an undeclared parameter or field refuses the call. A
method override is refused in every spelling and position, declared or not, because a
permissive server would act on it as another verb than the one classified.

This module is pure: the loader's half (``parse_headers``, ``parse_accepts``: plain map
documents in, problems out) and the request's half (``check_query``, ``rest_body``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from broker.routemap import errors as e
from broker.routemap.jsonbody import body_json
from broker.routemap.overrides import OVERRIDE_HEADERS, is_override_field, is_override_param

# Forwarded for every provider without being declared: they choose a representation,
# never an operation. The gateway itself adds Accept-Encoding and the master key.
SAFE_HEADERS = frozenset({"accept", "accept-language", "content-type", "user-agent"})
# RFC 9110 section 7.6.1 hop-by-hop fields, plus what a proxy must never pass on.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by an untrusted client, they would let it claim another origin or route.
UNTRUSTED_FORWARDING = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-real-ip",
        "x-original-url",
        "x-rewrite-url",
        "true-client-ip",
        "x-client-ip",
        "cf-connecting-ip",
        "via",
        "host",
        "content-length",
    }
)
# The agent's token and its choice of coding are replaced by the gateway's own.
REPLACED = frozenset({"authorization", "accept-encoding"})
# The agent's DPoP proof (RFC 9449) is for the gateway: no provider ever sees it.
SENDER_PROOF = frozenset({"dpop"})
CONTROL_PREFIX = "x-capbroker-"
# A map cannot declare these: the gateway owns, frames or drops them.
RESERVED_HEADERS = HOP_BY_HOP | UNTRUSTED_FORWARDING | REPLACED | SENDER_PROOF | OVERRIDE_HEADERS
# Bodies a permissive framework reads as form fields (``_method`` and all): never accepted.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

BodyKind = Literal["none", "fields", "any", "stream"]
Ref = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HeaderAllowlist:
    """The lower-case header names forwarded (``forward``), and the names a ``_`` spelling
    of which is refused because another server would read it as that header (``guarded``)."""

    forward: frozenset[bytes] = frozenset(n.encode() for n in SAFE_HEADERS)
    guarded: frozenset[bytes] = frozenset(n.encode() for n in SAFE_HEADERS | RESERVED_HEADERS)

    @classmethod
    def of(cls, declared: Iterable[str], auth_headers: Iterable[str] = ()) -> HeaderAllowlist:
        forward = SAFE_HEADERS | {n.lower() for n in declared}
        guarded = forward | RESERVED_HEADERS | {n.lower() for n in auth_headers}
        return cls(frozenset(n.encode() for n in forward), frozenset(n.encode() for n in guarded))


@dataclass(frozen=True, slots=True)
class Accepts:
    """What one REST rule accepts besides its path.

    ``query``: the parameter names, or ``None`` for any. ``body``: ``none`` (no body, or
    an empty JSON object),
    ``fields`` (a JSON object with only ``fields`` as keys), ``any`` (a JSON document),
    ``stream`` (bytes forwarded unread as they arrive; never JSON or a form).
    ``body_refs``: the ``{body.*}`` paths the rule's templates read.
    """

    query: frozenset[str] | None = frozenset()
    body: BodyKind = "none"
    fields: frozenset[str] = frozenset()
    body_refs: tuple[Ref, ...] = ()

    @property
    def reads_body(self) -> bool:
        """The gateway reads the whole body before classifying (all but ``stream``)."""
        return self.body != "stream"


NOTHING_ELSE = Accepts()  # a rule that declares neither query nor body
SAFE_ONLY = HeaderAllowlist()  # a map that declares no header


# --- loading ---------------------------------------------------------------------------


def parse_headers(spec: Mapping[str, Any]) -> tuple[HeaderAllowlist, list[tuple[str, str]]]:
    """``spec.headers.forward`` checked against what no map may declare."""
    auth = spec.get("auth", {})
    auth_headers = [auth.get("header", "")] + [
        alt.get("header", "") for alt in auth.get("alternatives", {}).values()
    ]
    auth_lower = {h.lower() for h in auth_headers if h}
    declared = spec.get("headers", {}).get("forward", [])
    problems = []
    for i, name in enumerate(declared):
        lower = name.lower()
        if lower in RESERVED_HEADERS or lower.startswith(CONTROL_PREFIX):
            problems.append((f"spec.headers.forward[{i}]", f"{name!r} is the gateway's own"))
        elif lower in auth_lower:
            problems.append(
                (f"spec.headers.forward[{i}]", f"{name!r} carries the master key; never forwarded")
            )
    return HeaderAllowlist.of(declared, auth_lower), problems


def parse_accepts(
    at: str, doc: Mapping[str, Any], body_refs: Iterable[Ref]
) -> tuple[Accepts, list[tuple[str, str]]]:
    """A REST rule's ``query`` and ``body``; ``body_refs`` are what its templates read."""
    refs = tuple(dict.fromkeys(body_refs))
    problems: list[tuple[str, str]] = []
    query_doc = doc.get("query", [])
    query = None if query_doc == "any" else frozenset(query_doc)
    for name in sorted(query or ()):
        if is_override_param(name):
            problems.append((f"{at}.query", f"{name!r} is a method override, refused everywhere"))
    body_doc = doc.get("body", "none")
    kind: BodyKind = "fields" if isinstance(body_doc, dict) else body_doc
    fields = frozenset(body_doc["fields"]) if isinstance(body_doc, dict) else frozenset()
    for name in sorted(fields):
        if is_override_field(name):
            problems.append((f"{at}.body", f"{name!r} is a method override, refused everywhere"))
    shown = ", ".join("{body." + ".".join(r) + "}" for r in refs)
    if refs and kind in ("none", "stream"):
        problems.append((f"{at}.body", f"the rule reads {shown}: declare body.fields or any"))
    if kind == "fields" and any(_step(r[0]) not in fields for r in refs):
        problems.append((f"{at}.body.fields", f"must list every field the rule reads ({shown})"))
    if kind != "none" and doc.get("method") == "GET":
        problems.append((f"{at}.body", "a GET rule takes no body"))
    return Accepts(query, kind, fields, refs), problems


# --- requests --------------------------------------------------------------------------


def check_query(accepts: Accepts, query: Iterable[tuple[str, str]]) -> None:
    """Every parameter declared, none twice (first-wins and last-wins servers would differ)."""
    seen: set[str] = set()
    for name, _ in query:
        if accepts.query is not None and name not in accepts.query:
            raise e.bad_request(
                e.UNDECLARED_PARAMETER, f"this call takes no query parameter {name[:64]!r}"
            )
        if name in seen:
            raise e.bad_request(e.DUPLICATE_PARAMETER, f"{name[:64]!r} is given more than once")
        seen.add(name)


def rest_body(
    accepts: Accepts, content_type: str, json_types: frozenset[str], body: bytes
) -> object:
    """The parsed body the rule's templates read (``{}`` when it reads none), or a refusal."""
    if accepts.body == "stream":
        if content_type in json_types or content_type in FORM_TYPES:
            raise e.unsupported_media_type(
                "this call forwards its body unread: JSON and form bodies are not accepted"
            )
        return {}
    if accepts.body == "none" and not body:
        return {}
    if content_type not in json_types:
        raise e.unsupported_media_type(
            "this call's body must be one of " + ", ".join(sorted(json_types))
        )
    parsed: object = body_json(body) if body else {}
    if accepts.body == "none":
        if parsed != {}:  # an empty object carries nothing; some clients always send one
            raise e.bad_request(e.BODY_NOT_ALLOWED, "this call takes no body")
        return {}
    if (accepts.body == "fields" or accepts.body_refs) and not isinstance(parsed, dict):
        raise e.bad_request(e.INVALID_JSON, "the body must be a JSON object")
    if accepts.body == "fields":
        assert isinstance(parsed, dict)
        for key in parsed:
            if key not in accepts.fields:
                raise e.bad_request(e.UNDECLARED_FIELD, f"this call takes no field {key[:64]!r}")
    for ref in accepts.body_refs:
        _no_case_variant(parsed, ref)
    return parsed


def _step(step: str) -> str:
    return step.removesuffix("[*]")  # a list step ({body.ids[*]}) names the key "ids"


def _no_case_variant(value: object, ref: Ref) -> None:
    """Refuse a key that misses ``ref`` only by case: the classifier would not see it, but a
    case-insensitive decoder upstream (Go's encoding/json, .NET) would act on it."""
    for depth, step in enumerate(ref):
        key = _step(step)
        if not isinstance(value, dict):
            return
        if key not in value:
            folded = key.casefold()
            if any(k.casefold() == folded for k in value):
                path = "body." + ".".join(ref[: depth + 1])
                raise e.bad_request(e.UNDECLARED_FIELD, f"a key differs from {path} only in case")
            return
        value = value[key]
