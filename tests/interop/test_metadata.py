"""RFC 8414 metadata as authlib's validator reads it, and the well-known documents over a
real socket (HEAD included)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url

from tests.interop.conftest import EXCHANGE, LiveBroker


def test_authlib_validates_the_metadata(live: LiveBroker) -> None:
    path = urlsplit(get_well_known_url(live.issuer, external=True)).path
    meta = requests.get(f"{live.url}{path}", timeout=10).json()
    AuthorizationServerMetadata(meta).validate()  # raises on any RFC 8414 violation
    assert meta["issuer"] == live.issuer
    assert EXCHANGE in meta["grant_types_supported"]
    for endpoint in ("introspection", "revocation"):
        assert meta[f"{endpoint}_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]
        assert "none" not in meta[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]


@pytest.mark.parametrize(
    "path", ["/.well-known/jwks.json", "/.well-known/oauth-authorization-server"]
)
def test_head_over_the_socket(live: LiveBroker, path: str) -> None:
    full = requests.get(f"{live.url}{path}", timeout=10)
    split = urlsplit(live.url)
    conn = http.client.HTTPConnection(split.hostname or "", split.port, timeout=10)
    try:
        conn.request("HEAD", path)
        r = conn.getresponse()
        assert r.status == 200
        assert r.read() == b""
        assert r.getheader("content-type") == full.headers["content-type"]
        assert r.getheader("content-length") == str(len(full.content))
        # The connection stays usable: no stray body bytes were sent after the headers.
        conn.request("GET", path)
        again = conn.getresponse()
        assert again.status == 200
        assert again.read() == full.content
    finally:
        conn.close()


def test_405_carries_allow_over_the_socket(live: LiveBroker) -> None:
    r = requests.delete(f"{live.url}/.well-known/jwks.json", timeout=10)
    assert r.status_code == 405
    assert {"GET", "HEAD"} <= set(r.headers["allow"].replace(" ", "").split(","))
