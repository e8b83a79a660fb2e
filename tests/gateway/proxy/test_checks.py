"""The proxy's own decisions, as pure functions: the raw head's lengths, proxy credentials,
the tunnel's one token."""

from __future__ import annotations

import base64

import pytest

from broker.errors import Denied, InvalidRequest, Unauthenticated
from broker.gateway.proxy.checks import (
    parse_authority,
    proxy_token,
    repeated_length,
    tunnel_headers,
)

HEAD = b"POST /graphql HTTP/1.1\r\nHost: h\r\n"


@pytest.mark.parametrize(
    ("head", "repeated"),
    [
        (HEAD + b"Content-Length: 5\r\n\r\nhello", False),
        (HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\n", True),
        (HEAD + b"content-length: 5\r\nCONTENT-LENGTH:5\r\n\r\n", True),
        (HEAD + b"Content-Length: 5, 5\r\n\r\n", True),
        (HEAD + b"Content-Length: 5\n\n", False),
        (HEAD + b"Content-Length: 5\nContent-Length: 5\n\n", True),
        # a length-looking line in the body is not the head's
        (HEAD + b"Content-Length: 20\r\n\r\nContent-Length: 5\r\n", False),
        (HEAD + b"X-Content-Length: 5\r\nContent-Length: 5\r\n\r\n", False),
    ],
)
def test_a_length_named_twice_in_the_raw_head_is_seen(head: bytes, repeated: bool) -> None:
    assert repeated_length(head) is repeated


def test_connect_targets_are_the_authority_form_only() -> None:
    assert str(parse_authority(b"API.GitHub.com.:443")) == "api.github.com:443"
    for bad in (b"api.github.com", b":443", b"host:0", b"host:99999", b"/path"):
        with pytest.raises(InvalidRequest):
            parse_authority(bad)


def _basic(text: str) -> list[tuple[bytes, bytes]]:
    return [(b"Proxy-Authorization", b"Basic " + base64.b64encode(text.encode()))]


def test_the_token_is_the_basic_password() -> None:
    assert proxy_token(_basic("capbroker:tok.en")) == "tok.en"
    for headers in ([], _basic("capbroker:"), _basic("no-colon"), _basic("a:b") * 2):
        with pytest.raises(Unauthenticated):
            proxy_token(headers)
    with pytest.raises(Unauthenticated):
        proxy_token([(b"proxy-authorization", b"Bearer tok")])


def test_only_the_tunnels_own_token_may_come_in_a_credential_header() -> None:
    names = frozenset({b"authorization", b"project-access-token"})
    kept = tunnel_headers([(b"Authorization", b"token tok"), (b"Accept", b"*/*")], "tok", names)
    assert kept == [(b"Accept", b"*/*"), (b"authorization", b"Bearer tok")]
    with pytest.raises(Denied):
        tunnel_headers([(b"Project-Access-Token", b"other")], "tok", names)
