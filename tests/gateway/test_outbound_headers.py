"""The outbound headers, table by table: what the agent sent, what the provider may see."""

from __future__ import annotations

import pytest

from broker.errors import InvalidRequest
from broker.gateway.headers import Control, control_headers, outbound_headers
from broker.routemap import shipped_map
from broker.routemap.allowlist import HeaderAllowlist

Raw = list[tuple[bytes, bytes]]
# What these tables' provider declares (spec.headers.forward); Accept and Content-Type
# are in the safe set every provider gets.
DECLARED = HeaderAllowlist.of(
    ["X-Request-Id", "X-Tag", "X-Kept", "X-Secret", "X-Other", "X-Capbrokers", "X-Name"],
    auth_headers=["X-Api-Key"],
)

CASES: list[tuple[str, Raw, list[tuple[str, str]]]] = [
    ("nothing", [], []),
    (
        "ordinary headers pass in order, names as sent",
        [(b"Content-Type", b"application/json"), (b"X-Request-Id", b"r1"), (b"accept", b"*/*")],
        [("Content-Type", "application/json"), ("X-Request-Id", "r1"), ("accept", "*/*")],
    ),
    (
        "repeated ordinary headers all pass",
        [(b"X-Tag", b"a"), (b"X-Tag", b"b")],
        [("X-Tag", "a"), ("X-Tag", "b")],
    ),
    (
        "the capability token never passes",
        [(b"Authorization", b"Bearer eyJ.x.y"), (b"authorization", b"Bearer 2")],
        [],
    ),
    ("the agent's coding is replaced", [(b"Accept-Encoding", b"gzip, br")], []),
    (
        "hop-by-hop fields",
        [
            (b"Connection", b"keep-alive"),
            (b"Keep-Alive", b"timeout=5"),
            (b"TE", b"trailers"),
            (b"Trailer", b"X-Sum"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Upgrade", b"h2c"),
            (b"Proxy-Authorization", b"Basic eDp5"),
            (b"Proxy-Authenticate", b"Basic"),
            (b"Proxy-Connection", b"keep-alive"),
            (b"X-Kept", b"1"),
        ],
        [("X-Kept", "1")],
    ),
    (
        "whatever a Connection header lists, in any case, over several headers",
        [
            (b"Connection", b"close, X-Secret"),
            (b"connection", b" x-other ,"),
            (b"x-secret", b"s"),
            (b"X-OTHER", b"o"),
            (b"X-Kept", b"1"),
        ],
        [("X-Kept", "1")],
    ),
    (
        "forwarding headers an untrusted client could set",
        [
            (b"Forwarded", b"for=203.0.113.66"),
            (b"X-Forwarded-For", b"203.0.113.66"),
            (b"X-Forwarded-Host", b"admin.internal"),
            (b"X-Forwarded-Proto", b"https"),
            (b"X-Forwarded-Port", b"443"),
            (b"X-Forwarded-Prefix", b"/admin"),
            (b"X-Real-IP", b"203.0.113.66"),
            (b"X-Original-URL", b"/admin"),
            (b"X-Rewrite-URL", b"/admin"),
            (b"True-Client-IP", b"203.0.113.66"),
            (b"X-Client-IP", b"203.0.113.66"),
            (b"CF-Connecting-IP", b"203.0.113.66"),
            (b"Via", b"1.1 proxy"),
            (b"Host", b"admin.internal"),
            (b"Content-Length", b"12"),
        ],
        [],
    ),
    (
        "our own control headers, by prefix and in any case",
        [
            (b"X-Capbroker-Approval", b"apr-1"),
            (b"x-capbroker-dry-run", b"1"),
            (b"X-CAPBROKER-Anything", b"x"),
            (b"X-Capbrokers", b"not ours"),
        ],
        [("X-Capbrokers", "not ours")],
    ),
    (
        "values are latin-1 text, unchanged",
        [(b"X-Name", b"caf\xe9 ; q=1")],
        [("X-Name", "caf\xe9 ; q=1")],
    ),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_outbound_headers(raw: Raw, expected: list[tuple[str, str]]) -> None:
    assert outbound_headers(raw, DECLARED) == expected


@pytest.mark.parametrize(
    "raw",
    [
        [(b"X-Undeclared", b"1")],
        [(b"X-Debug", b"1"), (b"Cookie", b"session=1"), (b"X-Api-Key", b"Token agent")],
        [(b"If-None-Match", b'"etag"')],  # declared by other maps, not this one
        [(b"X-Forwarded-For", b"203.0.113.66")],
    ],
)
def test_undeclared_headers_are_dropped(raw: Raw) -> None:
    assert outbound_headers(raw, DECLARED) == []
    assert outbound_headers(raw, HeaderAllowlist()) == []


def test_the_safe_set_passes_without_declaring() -> None:
    raw: Raw = [
        (b"Accept", b"application/vnd.github+json"),
        (b"Accept-Language", b"en"),
        (b"Content-Type", b"application/json"),
        (b"User-Agent", b"agent/1"),
        (b"X-Request-Id", b"r1"),
    ]
    assert [n for n, _ in outbound_headers(raw, HeaderAllowlist())] == [
        "Accept",
        "Accept-Language",
        "Content-Type",
        "User-Agent",
    ]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ([(b"X-HTTP-Method-Override", b"DELETE")], "method_override"),
        ([(b"x_http_method_override", b"DELETE")], "method_override"),
        ([(b"X_HTTP_METHOD", b"DELETE")], "method_override"),
        ([(b"X-Method_Override", b"DELETE")], "method_override"),
        ([(b"X.HTTP.Method.Override", b"DELETE")], "method_override"),
        ([(b"X_Request_Id", b"r2")], "ambiguous_header"),  # a declared header
        ([(b"Content_Type", b"text/plain")], "ambiguous_header"),  # the safe set
        ([(b"X_Api_Key", b"Token agent")], "ambiguous_header"),  # the key header
        ([(b"X_Forwarded_For", b"203.0.113.66")], "ambiguous_header"),  # reserved
        ([(b"Transfer_Encoding", b"chunked")], "ambiguous_header"),
    ],
)
def test_names_another_server_reads_differently_are_refused(raw: Raw, code: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        outbound_headers(raw, DECLARED)
    assert err.value.extra == {"refusal": code}


def test_an_underscore_name_that_reads_as_nothing_declared_is_only_dropped() -> None:
    assert outbound_headers([(b"X_Trace", b"1"), (b"X-Kept", b"1")], DECLARED) == [("X-Kept", "1")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], Control()),
        ([(b"X-Capbroker-Approval", b"apr_1")], Control(approval_id="apr_1")),
        ([(b"x-capbroker-dry-run", b"1")], Control(dry_run=True)),
        ([(b"X-CAPBROKER-DRY-RUN", b"true")], Control(dry_run=True)),
        (
            [(b"X-Capbroker-Dry-Run", b"1"), (b"X-Capbroker-Approval", b"apr_1")],
            Control(True, "apr_1"),
        ),
        ([(b"X-Capbroker-Debug", b"1"), (b"X-Capbrokers", b"x")], Control()),  # not ours
    ],
)
def test_control_headers_as_documented(raw: Raw, expected: Control) -> None:
    assert control_headers(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        [(b"x-capbroker-approval", b"apr_1"), (b"X-Capbroker-Approval", b"apr_2")],
        [(b"X-Capbroker-Dry-Run", b"1"), (b"X-Capbroker-Dry-Run", b"1")],
        [(b"X_Capbroker_Dry_Run", b"1")],
        [(b"X-Capbroker-DryRun", b"1")],
        [(b"x-capbroker_dry-run", b"1")],
        [(b"XCapbrokerApproval", b"apr_1")],
        [(b"X-Capbroker-Dry-Run", b"yes")],
        [(b"X-Capbroker-Dry-Run", b"0")],
        [(b"X-Capbroker-Dry-Run", b"")],
        [(b"X-Capbroker-Approval", b"a" * 200)],
        [(b"X-Capbroker-Approval", b"apr_1, apr_2")],
        [(b"X-Capbroker-Approval", b"../apr_1")],
    ],
)
def test_control_headers_otherwise_are_refused(raw: Raw) -> None:
    with pytest.raises(InvalidRequest) as err:
        control_headers(raw)
    assert err.value.extra == {"refusal": "control_header"}


def test_every_key_header_of_a_shipped_map_is_guarded() -> None:
    """The railway map injects its key in Authorization or Project-Access-Token: neither,
    in any spelling, comes from the agent; GitHub's declared headers pass, others drop."""
    railway = shipped_map("railway").headers
    raw: Raw = [(b"Project-Access-Token", b"agent-chosen"), (b"Accept", b"*/*")]
    assert outbound_headers(raw, railway) == [("Accept", "*/*")]
    with pytest.raises(InvalidRequest) as err:
        outbound_headers([(b"Project_Access_Token", b"agent-chosen")], railway)
    assert err.value.extra == {"refusal": "ambiguous_header"}
    github = shipped_map("github").headers
    raw = [(b"X-GitHub-Api-Version", b"2022-11-28"), (b"If-None-Match", b'"e"'), (b"X-Debug", b"1")]
    names = [n for n, _ in outbound_headers(raw, github)]
    assert names == ["X-GitHub-Api-Version", "If-None-Match"]
