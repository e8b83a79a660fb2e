"""A malformed-input campaign against the real broker and gateway processes (SQLite).

About 1,200 inputs: a hand-made corpus of bodies (deep nesting, NUL, lone surrogates,
bad UTF-8, duplicate keys, huge numbers, wrong types) at every JSON endpoint with and
without credentials, and hypothesis-generated JSON bodies, form bodies with
``authorization_details``, manifests broken in one place, token claims signed with the
broker's real key, and gateway bodies. For every one: no 5xx; a 4xx is problem+json
with a reason code; nothing in the store changed (row counts of every table an input
could write); nothing reached the provider for a refused call.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.errors import Reason
from broker.services.container import build_services
from broker.tokens._b64 import b64url_decode
from tests.faults.procstack import ProcStack
from tests.support.factories import template_doc
from tests.tokens.token_builders import forge

pytestmark = pytest.mark.faults

STORED = (
    "principals",
    "credentials",
    "template_versions",
    "policy_floor_versions",
    "sessions",
    "tokens",
    "kills",
    "approvals",
)
REASONS = {r.value for r in Reason}
CODE = re.compile(r"^[a-z][a-z0-9_]{2,40}$")
RUN = settings(
    max_examples=100,
    deadline=None,
    database=None,  # the campaign is the same every run; no example database left behind
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Campaign:
    def __init__(self, stack: ProcStack) -> None:
        self.stack = stack
        self.http = httpx.Client(timeout=10)
        self.sent = 0
        self.forwarded = 0  # gateway calls answered 200 (each one reached the provider)
        self.token = stack.token()  # for gateway calls, issued before any test counts rows

    def check(self, answer: httpx.Response, *, broker: bool) -> None:
        self.sent += 1
        where = f"{answer.request.method} {answer.request.url.path}"
        assert answer.status_code < 500, (where, answer.status_code, answer.text[:300])
        if answer.status_code < 400:
            return
        media = answer.headers.get("content-type", "")
        problem = answer.json()
        code = problem.get("code")
        assert isinstance(code, str), problem
        assert code in REASONS if broker else CODE.match(code), problem
        if answer.request.url.path.startswith("/oauth/"):  # RFC 6749 section 5.2 errors
            assert media.startswith("application/json"), (where, media)
            assert isinstance(problem.get("error"), str), problem
            return
        assert media.startswith("application/problem+json"), (where, media, answer.text[:200])
        assert problem["type"].endswith("/" + code), problem

    def broker(self, path: str, body: bytes, credential: str | None, media: str) -> None:
        headers = {"content-type": media}
        if credential:
            headers["authorization"] = f"Bearer {credential}"
        url = f"{self.stack.broker_url}{path}"
        self.check(self.http.post(url, content=body, headers=headers), broker=True)

    def gateway(self, body: bytes, token: str, media: str = "application/json") -> int:
        headers = {"content-type": media, "authorization": f"Bearer {token}"}
        answer = self.http.post(self.stack.gateway_url, content=body, headers=headers)
        self.check(answer, broker=False)
        self.forwarded += answer.status_code == 200
        return answer.status_code

    def upstream_calls(self) -> int:
        return len(self.stack.upstream_log())


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    stack = ProcStack(tmp_path_factory.mktemp("malformed"))
    try:
        stack.start()
        c = Campaign(stack)
        yield c
        c.http.close()
    finally:
        stack.stop()
    log = (stack.tmp / "log").read_text(errors="replace")
    assert "Traceback" not in log
    assert "internal error" not in log
    assert stack.chains_intact() == []
    print(f"malformed-input campaign: {c.sent} inputs")


@pytest.fixture
def unchanged(campaign: Campaign) -> Iterator[Campaign]:
    """The store's rows the same after the test as before; the provider saw only the calls
    that were answered 200."""
    rows, calls = campaign.stack.row_counts(STORED), campaign.upstream_calls()
    forwarded = campaign.forwarded
    yield campaign
    assert campaign.stack.row_counts(STORED) == rows
    assert campaign.upstream_calls() - calls == campaign.forwarded - forwarded


# --- the corpus -------------------------------------------------------------------------

DEEP = b"[" * 5000 + b"]" * 5000
CORPUS: list[bytes] = [
    b"",
    b"{",
    b"[",
    b"null",
    b"1e999999",
    b"123456789012345678901234567890123456789012345678901234567890123456789",
    b"NaN",
    b'{"a": Infinity}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{}",
    b'{"template": "\xc3\x28"}',
    b'{"template": "\\ud800", "environment": "staging"}',
    b'{"template": "a\\u0000b", "environment": "staging"}',
    b'{"template": "x", "template": "y"}',
    b'{"template": ["staging-agent"], "environment": "staging"}',
    b'{"template": {"a": 1}, "environment": 7}',
    b'{"manifests": [{"apiVersion": "capbroker.dev/v1", "kind": ["x"]}]}',
    b'{"manifests": [{"apiVersion": ["v1"], "kind": {"a": 1}}]}',
    b'{"manifests": ' + DEEP + b"}",
    b'{"manifests": [' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"]}",
    b'{"manifests": [{"kind": "PolicyFloor", "spec": "' + b"\\u0000" * 10 + b'"}]}',
    DEEP,
    b"{" * 100 + b"}" * 100,
    b'{"a":' * 33 + b"1" + b"}" * 33,
    b'{"query": ' + DEEP + b"}",
    b'{"query": "{ projects { id } }", "variables": ' + b'{"v":' * 200 + b"1" + b"}" * 200 + b"}",
    b'{"query": "{ projects { id } }", "variables": {"v": "\\ud800"}}',
    b'{"query": "' + b"{ a " * 2000 + b'"}',
    b'{"query": 5}',
    b"[" + b'{"query": "{ projects { id } }"},' * 50 + b"{}]",
    b'{"query": "{ projects { id } }", "extensions": {"persistedQuery": {"sha256Hash": [1]}}}',
    b"\x00\x00\x00",
    b'"' + b"a" * 100_000 + b'"',
]
BROKER_PATHS = ["/v1/tokens", "/v1/admin/manifests", "/v1/admin/explain", "/v1/admin/kills"]


@pytest.mark.parametrize("path", BROKER_PATHS)
def test_the_corpus_at_every_broker_endpoint(unchanged: Campaign, path: str) -> None:
    c = unchanged
    credential = c.stack.agent if path == "/v1/tokens" else c.stack.root
    for body in CORPUS:
        for who in (None, credential):
            c.broker(path, body, who, "application/json")
        c.broker(path, body, credential, "application/json; charset=utf-16")
    for body in CORPUS[:8]:
        c.broker("/v1/admin/agents", body, None, "application/json")


def test_the_corpus_at_the_gateway(unchanged: Campaign) -> None:
    c = unchanged
    for body in CORPUS:
        c.gateway(body, c.token)
    for body in CORPUS[:10]:
        c.gateway(body, c.token, "text/plain")
        c.gateway(body, "not.a.token")


# --- generated --------------------------------------------------------------------------

texts = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\x00", "\\", '"', "\u2028", "\ufeff"]),
    max_size=12,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=30,
)


def _nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def _deep(depth: int) -> Any:
    return _nested(depth, 1)


deep_values = st.builds(_nested, st.integers(20, 400), json_values)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    deep_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.binary(max_size=64),
)


@RUN
@given(body=bodies)
def test_generated_bodies_at_the_broker(unchanged: Campaign, body: bytes) -> None:
    unchanged.broker("/v1/tokens", body, unchanged.stack.agent, "application/json")
    unchanged.broker("/v1/admin/manifests", body, unchanged.stack.root, "application/json")


@RUN
@given(
    fields=st.dictionaries(st.sampled_from(["scope", "expires_in", "session_id"]), texts),
    details=st.one_of(bodies, json_values.map(lambda v: json.dumps([v]).encode())),
)
def test_generated_oauth_forms(unchanged: Campaign, fields: dict[str, str], details: bytes) -> None:
    c = unchanged
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": c.stack.agent,
        "subject_token_type": "urn:capbroker:params:oauth:token-type:agent-credential",
        **fields,
        "authorization_details": details.decode("utf-8", "replace"),
    }
    encoded = str(httpx.QueryParams(form)).encode()
    c.broker("/oauth/token", encoded, None, "application/x-www-form-urlencoded")
    c.broker("/oauth/introspect", encoded, c.stack.root, "application/x-www-form-urlencoded")


VALID_TEMPLATE = template_doc(
    "fuzzed", provider="railway-demo", actions=["project:read"], agents=["claude-*"]
)
# Each place a manifest can be broken, and values that break it there.
BREAKS = {
    ("kind",): st.one_of(st.lists(texts), st.dictionaries(texts, texts), st.integers(), texts),
    ("apiVersion",): st.one_of(st.lists(texts), st.integers(), st.none()),
    ("metadata",): st.one_of(st.lists(texts), texts, st.none()),
    ("metadata", "name"): st.one_of(st.lists(texts), st.integers(), st.just("a\x00b")),
    ("spec",): st.one_of(st.lists(json_values), texts, st.integers()),
    ("spec", "provider"): st.one_of(st.lists(texts), st.integers(), st.just("\x00")),
    ("spec", "environments"): st.one_of(texts, st.lists(st.integers(), min_size=1)),
    ("spec", "actions"): st.one_of(texts, deep_values, st.lists(st.none(), min_size=1)),
    ("spec", "ttl"): st.one_of(st.lists(texts), texts.map(lambda t: {"default": [t]})),
    ("spec", "budgets"): st.one_of(texts, st.just({"calls": "ten"}), st.just({"calls": -1})),
}


@RUN
@given(place=st.sampled_from(sorted(BREAKS)), data=st.data())
def test_manifests_broken_in_one_place(
    unchanged: Campaign, place: tuple[str, ...], data: st.DataObject
) -> None:
    doc = json.loads(json.dumps(VALID_TEMPLATE))
    target = doc
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = data.draw(BREAKS[place])
    c = unchanged
    answer = c.http.post(
        f"{c.stack.broker_url}/v1/admin/manifests",
        content=json.dumps({"manifests": [doc]}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {c.stack.root}"},
    )
    c.check(answer, broker=True)
    assert answer.status_code == 400, answer.text[:300]  # broken by construction


@pytest.fixture(scope="module")
def signer(campaign: Campaign) -> Any:
    services = build_services(campaign.stack.settings)
    key = services.keys.signer()
    services.close()
    return key


CAPABILITY_MEMBERS = ["provider", "environments", "actions", "resources", "budgets", "approval"]


@RUN
@given(
    changes=st.dictionaries(st.sampled_from(CAPABILITY_MEMBERS), json_values, min_size=1),
    extra=st.dictionaries(
        texts.map(lambda t: "x-" + t), json_values | st.integers(30, 60).map(_deep), max_size=1
    ),
)
def test_claims_signed_with_the_real_key(
    unchanged: Campaign, signer: Any, changes: dict[str, Any], extra: dict[str, Any]
) -> None:
    c = unchanged
    payload = json.loads(b64url_decode(c.token.split(".")[1]))
    # A jti of its own: the gateway parses a token's grant once per jti.
    payload["jti"] = uuid.uuid4().hex
    payload["authorization_details"][0].update(changes)
    payload.update(extra)
    forged = forge({"alg": "EdDSA", "typ": "at+jwt", "kid": signer.kid}, payload, signer.sign)
    # Only a well-typed grant gets through (``unchanged`` counts what reached the provider).
    c.gateway(b'{"query": "{ projects { id } }"}', forged)


@RUN
@given(body=bodies)
def test_generated_bodies_at_the_gateway(unchanged: Campaign, body: bytes) -> None:
    unchanged.gateway(body, unchanged.token)
