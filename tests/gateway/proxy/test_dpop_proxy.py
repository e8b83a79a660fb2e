"""DPoP-bound tokens through the forward proxy (RFC 9449): the tunnel's token comes with the
CONNECT, and each request inside it brings ``Authorization: DPoP`` and a proof for the
provider's own https URL, which the tool addressed. Checked per request, as in path mode;
over real sockets, with the permissive upstream behind, which must see neither the proof
nor the token, and nothing at all for a refused request."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest

from broker.domain.grants import GrantRequest
from tests.gateway.proxy.proxy_stack import ProxyFront, permissive_stack_with_proxy
from tests.support.dpop_client import ProofKey
from tests.support.servers import HOST
from tests.support.stack import PERMISSIVE, Stack

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

HOSTNAME = f"{PERMISSIVE}.dpop.test"
URL = f"https://{HOSTNAME}/items"
FRONT = ProxyFront()  # the module's proxy port and CA file


@pytest.fixture(scope="module")
def _proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("dpop-proxy")
    yield from permissive_stack_with_proxy(tmp, ".dpop.test", FRONT)


@pytest.fixture
def proxied(_proxied: Stack) -> Stack:
    _proxied.reset_provider()
    return _proxied


def _bound(stack: Stack, key: ProofKey) -> str:
    grant = GrantRequest("permissive-staging", "staging", dpop_jkt=key.jkt)
    return stack.services.issuance.issue(stack.agent, grant).access_token


def _tunnel(token: str) -> http.client.HTTPSConnection:
    port, ca_file = FRONT.port, FRONT.ca_file
    context = ssl.create_default_context(cafile=ca_file)
    conn = http.client.HTTPSConnection(HOST, port, context=context, timeout=15)
    basic = base64.b64encode(f"capbroker:{token}".encode()).decode()
    conn.set_tunnel(HOSTNAME, 443, headers={"Proxy-Authorization": f"Basic {basic}"})
    return conn


def _get(
    conn: http.client.HTTPSConnection, headers: dict[str, str], path: str = "/items"
) -> tuple[int, Message, Any]:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, response.headers, json.loads(response.read() or b"null")


def _reached(stack: Stack) -> list[Any]:
    assert stack.permissive is not None
    return stack.permissive.received()


def test_a_bound_token_with_a_proof_for_the_providers_url_goes_through(proxied: Stack) -> None:
    key = ProofKey()
    token = _bound(proxied, key)
    conn = _tunnel(token)
    for _ in range(2):  # each request its own proof, in one tunnel
        proof = key.proof("GET", URL, token=token)
        status, _, body = _get(conn, {"Authorization": f"DPoP {token}", "DPoP": proof})
        assert status == 200, body
    conn.close()
    seen = _reached(proxied)
    assert len(seen) == 2
    for received in seen:
        assert received.header("x-api-key") == proxied.permissive_key
        assert received.header("dpop") is None
        assert received.header("authorization") is None
        assert token not in received.raw.decode("latin-1")


@pytest.mark.parametrize(
    "case",
    ["replayed", "path-mode-url", "http-url", "other-key", "as-bearer", "no-scheme", "no-proof"],
)
def test_a_request_in_the_tunnel_without_its_own_good_proof_is_refused(
    proxied: Stack, case: str
) -> None:
    key = ProofKey()
    token = _bound(proxied, key)
    conn = _tunnel(token)
    good = key.proof("GET", URL, token=token)
    if case == "replayed":
        status, _, body = _get(conn, {"Authorization": f"DPoP {token}", "DPoP": good})
        assert status == 200, body
        proxied.reset_provider()
    headers = {
        "replayed": {"Authorization": f"DPoP {token}", "DPoP": good},
        "path-mode-url": {
            "Authorization": f"DPoP {token}",
            "DPoP": key.proof("GET", f"{proxied.url}/{PERMISSIVE}/items", token=token),
        },
        "http-url": {
            "Authorization": f"DPoP {token}",
            "DPoP": key.proof("GET", f"http://{HOSTNAME}/items", token=token),
        },
        "other-key": {
            "Authorization": f"DPoP {token}",
            "DPoP": ProofKey().proof("GET", URL, token=token),
        },
        "as-bearer": {"Authorization": f"Bearer {token}", "DPoP": good},
        "no-scheme": {"DPoP": good},  # only the CONNECT's credentials: that is Bearer
        "no-proof": {"Authorization": f"DPoP {token}"},
    }[case]
    status, answer, body = _get(conn, headers)
    conn.close()
    assert status == 401, body
    error = (
        "invalid_token" if case in ("other-key", "as-bearer", "no-scheme") else "invalid_dpop_proof"
    )
    assert answer["WWW-Authenticate"].startswith(f'DPoP error="{error}"'), answer
    assert _reached(proxied) == []


def test_an_unbound_tunnel_token_still_works_as_bearer(proxied: Stack) -> None:
    token = proxied.permissive_token()
    conn = _tunnel(token)
    status, _, body = _get(conn, {})
    assert status == 200, body
    status, answer, _ = _get(
        conn, {"Authorization": f"DPoP {token}", "DPoP": ProofKey().proof("GET", URL, token=token)}
    )
    assert status == 401
    assert answer["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    conn.close()
