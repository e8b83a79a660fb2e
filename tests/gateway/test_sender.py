"""The gateway's sender check (broker/gateway/sender.py) and the issuance proof check
(broker/api/dpop.py), as pure functions of plain values; proofs signed by joserfc."""

from __future__ import annotations

import time
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.api.dpop import issuance_jkt
from broker.errors import BrokerError, Denied, InvalidRequest, Reason
from broker.gateway.proxy.checks import tunnel_headers
from broker.gateway.sender import (
    CallTarget,
    SenderRefused,
    challenge,
    check_sender,
    path_mode_url,
    presented,
)
from broker.routemap.allowlist import parse_headers
from broker.tokens import InvalidToken, VerifiedToken
from broker.tokens.dpop import DPoPVerifier
from broker.tokens.replay import ReplayCache
from tests.support.dpop_client import ProofKey

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

URL = "https://gateway.example.com/permissive/items"
RAW = "header.payload.signature"


def _token(jkt: str | None) -> VerifiedToken:
    return VerifiedToken(
        claims=MappingProxyType({}),
        kid="k",
        jti="j",
        sub="s",
        sid="x",
        client_id="c",
        exp=0,
        iat=0,
        template="t",
        template_version=1,
        authorization_details=(),
        cnf_jkt=jkt,
    )


def _check(headers: list[tuple[bytes, bytes]], jkt: str | None, **kw: object) -> None:
    now = float(kw.pop("now", time.time()))  # type: ignore[arg-type]
    verifier = kw.pop("verifier", DPoPVerifier())
    call = CallTarget(str(kw.pop("method", "GET")), kw.pop("url", URL))  # type: ignore[arg-type]
    check_sender(presented(headers), _token(jkt), call, verifier=verifier, now=now)  # type: ignore[arg-type]


def _headers(scheme: str, *proofs: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"Authorization", f"{scheme} {RAW}".encode()),
        *((b"DPoP", p.encode()) for p in proofs),
    ]


def test_presented_reads_both_schemes_in_any_case() -> None:
    assert presented([(b"authorization", b"bearer abc")]).scheme == "Bearer"
    shown = presented([(b"Authorization", b"dpop abc"), (b"dpop", b" p1 "), (b"DPoP", b"p2")])
    assert (shown.scheme, shown.token, shown.proofs) == ("DPoP", "abc", ("p1", "p2"))
    for bad in ([], [(b"authorization", b"Basic abc")], [(b"authorization", b"DPoP ")]):
        with pytest.raises(InvalidToken):
            presented(bad)
    with pytest.raises(InvalidToken):
        presented([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer a")])


def test_a_bound_token_with_its_proof_passes_once() -> None:
    key = ProofKey()
    verifier = DPoPVerifier()
    headers = _headers("DPoP", key.proof("GET", URL, token=RAW))
    _check(headers, key.jkt, verifier=verifier)
    with pytest.raises(SenderRefused) as exc:
        _check(headers, key.jkt, verifier=verifier)
    assert exc.value.reason is Reason.INVALID_DPOP_PROOF
    assert "replayed" in exc.value.audit_detail


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("as-bearer", Reason.DPOP_BINDING_MISMATCH),
        ("other-key", Reason.DPOP_BINDING_MISMATCH),
        ("no-proof", Reason.INVALID_DPOP_PROOF),
        ("two-proofs", Reason.INVALID_DPOP_PROOF),
        ("no-url", Reason.INVALID_DPOP_PROOF),
        ("other-url", Reason.INVALID_DPOP_PROOF),
        ("other-method", Reason.INVALID_DPOP_PROOF),
        ("no-ath", Reason.INVALID_DPOP_PROOF),
        ("old", Reason.INVALID_DPOP_PROOF),
    ],
)
def test_every_way_off_the_binding_is_refused(case: str, reason: Reason) -> None:
    key = ProofKey()
    good = key.proof("GET", URL, token=RAW)
    kw: dict[str, object] = {}
    headers = {
        "as-bearer": _headers("Bearer", good),
        "other-key": _headers("DPoP", ProofKey().proof("GET", URL, token=RAW)),
        "no-proof": _headers("DPoP"),
        "two-proofs": _headers("DPoP", good, key.proof("GET", URL, token=RAW)),
        "no-url": _headers("DPoP", good),
        "other-url": _headers("DPoP", key.proof("GET", URL + "/x", token=RAW)),
        "other-method": _headers("DPoP", key.proof("DELETE", URL, token=RAW)),
        "no-ath": _headers("DPoP", key.proof("GET", URL)),
        "old": _headers("DPoP", key.proof("GET", URL, token=RAW, iat=time.time() - 3600)),
    }[case]
    if case == "no-url":
        kw["url"] = None
    with pytest.raises(SenderRefused) as exc:
        _check(headers, key.jkt, **kw)
    refused = exc.value
    assert refused.reason is reason
    assert refused.status == 401
    assert RAW not in refused.detail
    assert RAW not in refused.audit_detail
    expected = b"invalid_token" if reason is Reason.DPOP_BINDING_MISMATCH else b"invalid_dpop_proof"
    asked = challenge(refused)
    assert asked is not None
    assert asked.startswith(b'DPoP error="' + expected + b'"')


def test_an_unbound_token_is_bearer_only() -> None:
    _check(_headers("Bearer"), None)
    _check(_headers("Bearer", "stray"), None)  # a stray proof header is dropped, not read
    with pytest.raises(SenderRefused) as exc:
        _check(_headers("DPoP", ProofKey().proof("GET", URL, token=RAW)), None)
    assert exc.value.reason is Reason.DPOP_BINDING_MISMATCH


def test_challenges_are_only_for_sender_refusals() -> None:
    assert challenge(InvalidToken("expired")) is None
    assert challenge(Denied("no", reason=Reason.DPOP_BINDING_MISMATCH)) is None  # a 403 lapse
    assert challenge(BrokerError("x")) is None


def test_path_mode_url() -> None:
    headers = [(b"host", b"gw.local:8081")]
    assert path_mode_url("", "http", headers, "/p/x") == "http://gw.local:8081/p/x"
    assert path_mode_url("https://gw.example/pre/", "http", headers, "/p/x") == (
        "https://gw.example/pre/p/x"
    )
    assert path_mode_url("", "http", [], "/p/x") is None
    assert path_mode_url("", "http", headers * 2, "/p/x") is None


@given(st.text(alphabet="abc/%.", max_size=12))
def test_path_mode_url_is_the_public_url_and_the_raw_target(tail: str) -> None:
    target = "/" + tail
    assert (
        path_mode_url("https://gw", "http", [(b"host", b"evil")], target) == "https://gw" + target
    )


def test_the_tunnel_keeps_the_dpop_scheme_of_the_tools_request() -> None:
    names = frozenset({b"authorization"})
    dpop = tunnel_headers([(b"Authorization", b"DPoP tok"), (b"DPoP", b"p")], "tok", names)
    assert dpop == [(b"DPoP", b"p"), (b"authorization", b"DPoP tok")]
    assert tunnel_headers([], "tok", names) == [(b"authorization", b"Bearer tok")]
    with pytest.raises(Denied):
        tunnel_headers([(b"Authorization", b"DPoP other")], "tok", names)


def test_issuance_takes_one_proof_for_post_and_the_issuers_url() -> None:
    key = ProofKey("RS256")
    verifier = DPoPVerifier(replay=ReplayCache(max_entries=10))
    now = time.time()
    url = "https://broker.example/oauth/token"
    check = {"verifier": verifier, "issuer": "https://broker.example", "path": "/oauth/token"}
    assert issuance_jkt([], now=now, **check) is None  # type: ignore[arg-type]
    jkt = issuance_jkt([key.proof("POST", url, iat=now)], now=now, **check)  # type: ignore[arg-type]
    assert jkt == key.jkt
    for values in (
        [key.proof("POST", url, iat=now), key.proof("POST", url, iat=now)],
        [key.proof("GET", url, iat=now)],
        [key.proof("POST", "http://127.0.0.1:8080/oauth/token", iat=now)],
        [key.proof("POST", url, iat=now, token="x")],
    ):
        with pytest.raises(InvalidRequest) as exc:
            issuance_jkt(values, now=now, **check)  # type: ignore[arg-type]
        assert exc.value.reason is Reason.INVALID_DPOP_PROOF


def test_no_route_map_may_forward_the_proof() -> None:
    _, problems = parse_headers({"headers": {"forward": ["X-Request-Id", "DPoP"]}})
    assert problems == [("spec.headers.forward[1]", "'DPoP' is the gateway's own")]
