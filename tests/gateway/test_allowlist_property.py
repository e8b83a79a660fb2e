"""Property: what the provider receives is a function of the classified parts of a call
(method, canonical path, declared query, body) and its declared headers alone.

Random calls are built from the echo map's rules (tests/support/echo-map.yaml) and sent
through the real gateway to the echo upstream, which reports exactly what reached it.
Each call goes twice: once plain, once with random undeclared headers mixed in (forwarding
headers, cookies, the key header, our own prefix, hop-by-hop fields, made-up names, in any
case). The two reports must be byte-for-byte the same and equal what the declared parts
predict. A third copy with an undeclared query parameter must be refused and reach nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.gateway_support import raw_request
from tests.support import echo_upstream
from tests.support.stack import ECHO, Stack

DECLARED = ("X-Request-Id", "If-None-Match")  # echo-map.yaml spec.headers.forward
SAFE = ("Accept", "Accept-Language", "User-Agent")  # Content-Type is set per body
# Names the gateway itself puts on the upstream request (aiohttp adds Accept and
# User-Agent when the agent sends none).
GATEWAY_OWN = {"host", "x-api-key", "accept-encoding", "content-length", "accept", "user-agent"}
UNDECLARED = (
    "X-Debug",
    "X-Admin",
    "Cookie",
    "X-Api-Key",
    "X-Forwarded-For",
    "Forwarded",
    "X-Original-URL",
    "Via",
    "True-Client-IP",
    "X-Capbroker-Trace",
    "Keep-Alive",
    "Proxy-Authorization",
    "X-GitHub-Api-Version",
    "Prefer",
    "X-Tenant",
)
RULES = {  # rule -> (method, declared query parameters)
    "read": ("GET", ("page", "per_page", "q")),
    "write": ("POST", ("dry",)),
    "upload": ("PUT", ()),
}
TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~ ", min_size=1, max_size=12)
IDENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
HEADER_VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.=;/ ", max_size=16).map(
    str.strip
)


@dataclass
class Call:
    rule: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]  # declared and safe only
    body: bytes = b""
    content_type: str = ""
    noise: list[tuple[int, str, str]] = field(default_factory=list)  # (position, name, value)

    @property
    def method(self) -> str:
        return RULES[self.rule][0]

    @property
    def path(self) -> str:
        return {"read": "/echo", "write": "/echo", "upload": "/upload/blob"}[self.rule]

    @property
    def wire_query(self) -> str:
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query)

    def target(self, extra_query: str = "") -> str:
        query = "&".join(q for q in (self.wire_query, extra_query) if q)
        return f"/{ECHO}{self.path}" + (f"?{query}" if query else "")

    def wire_headers(self, token: str, *, noisy: bool) -> list[tuple[str, str]]:
        headers = [("Authorization", f"Bearer {token}"), *self.headers]
        if self.content_type:
            headers.append(("Content-Type", self.content_type))
        if noisy:
            for position, name, value in self.noise:
                headers.insert(min(position, len(headers)), (name, value))
        headers.append(("Content-Length", str(len(self.body))))
        return headers


def _case(name: str, draw: st.DrawFn) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in name)


@st.composite
def calls(draw: st.DrawFn) -> Call:
    rule = draw(st.sampled_from(sorted(RULES)))
    declared = RULES[rule][1]
    names = draw(st.lists(st.sampled_from(declared), unique=True)) if declared else []
    query = [(n, draw(TEXT)) for n in names]
    headers = [
        (n, draw(HEADER_VALUE))
        for n in draw(st.lists(st.sampled_from(DECLARED + SAFE), unique=True))
    ]
    call = Call(rule, query, headers)
    if rule == "write":
        fields = {"name": draw(IDENT), "environment": "staging"}
        for extra in draw(st.lists(st.sampled_from(["pad", "note"]), unique=True)):
            fields[extra] = draw(TEXT)
        call.body, call.content_type = json.dumps(fields).encode(), "application/json"
    elif rule == "upload":
        call.body = draw(st.binary(max_size=256))
        call.content_type = "application/octet-stream"
    noise = draw(st.lists(st.sampled_from(UNDECLARED), min_size=1, max_size=6))
    call.noise = [(draw(st.integers(0, 8)), _case(n, draw), draw(HEADER_VALUE)) for n in noise]
    return call


def _send(stack: Stack, call: Call, *, noisy: bool, extra_query: str = "") -> Any:
    return raw_request(
        stack.url,
        call.method,
        call.target(extra_query),
        call.wire_headers(stack.echo_token(), noisy=noisy),
        call.body,
    )


def _received(call: Call, report: dict[str, Any]) -> dict[str, Any]:
    """The report without the digests of the master key (the same key every time)."""
    assert report["method"] == call.method
    assert report["path"] == call.path
    assert report["query"] == call.wire_query
    assert report["body_sha256"] == hashlib.sha256(call.body).hexdigest()
    names = {k.lower() for k, _ in report["headers"]}
    sent = {k.lower() for k, _ in call.headers} | ({"content-type"} if call.content_type else set())
    assert names <= sent | GATEWAY_OWN, f"undeclared headers arrived: {names - sent - GATEWAY_OWN}"
    # in order, with the values as sent (the upstream's server lower-cases names)
    agent_part = [(k, v) for k, v in report["headers"] if k in sent - {"content-type"}]
    assert agent_part == [(k.lower(), v) for k, v in call.headers]
    return report


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(call=calls())
def test_only_the_classified_parts_and_declared_headers_reach_the_provider(
    shared_stack: Stack, call: Call
) -> None:
    plain = _send(shared_stack, call, noisy=False)
    assert plain.status == 200, plain.body[:300]
    noisy = _send(shared_stack, call, noisy=True)
    assert noisy.status == 200, noisy.body[:300]
    assert _received(call, noisy.json()) == _received(call, plain.json())

    before = len(echo_upstream.ARRIVED)
    refused = _send(shared_stack, call, noisy=True, extra_query="admin=1")
    assert refused.status == 400, refused.body[:300]
    assert refused.json()["refusal"] == "undeclared_parameter"
    assert len(echo_upstream.ARRIVED) == before, "a refused call reached the provider"
