"""The gateway, on a broker signing ES256 or RS256: real tokens pass; forged ones (the
public key as an HMAC secret, ``none``, another algorithm's header on the real kid) are
401 and nothing reaches the provider."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from broker.tokens import generate_signing_key
from tests.support.stack import Stack, build_stack

SERVICES = '{ services(projectId: "proj-acme") { id } }'


@pytest.fixture(params=["ES256", "RS256"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    yield from build_stack(
        tmp_path, f"sqlite:///{tmp_path}/capbroker.db", signing_algorithm=request.param
    )


def _enc(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, object], str]:
    head, payload, _ = token.split(".")
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))), payload


def _forged(header: dict[str, object], payload: str, sign: object) -> str:
    head = _enc(json.dumps(header).encode())
    signature = sign(f"{head}.{payload}".encode())  # type: ignore[operator]
    return f"{head}.{payload}.{_enc(signature)}"


def test_real_tokens_pass_and_forgeries_reach_nothing(stack: Stack) -> None:
    token = stack.token()
    header, payload = _parts(token)
    algorithm = stack.services.settings.signing_algorithm
    assert header["alg"] == algorithm
    assert stack.call(token, SERVICES).status_code == 200
    before = len(stack.upstream_log())
    key = stack.services.keys.signer()
    pem = key.public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    jwk = json.dumps(stack.services.keys.jwks()["keys"][0]).encode()  # type: ignore[index]
    forgeries = [
        _forged(
            {**header, "alg": "HS256"},
            payload,
            lambda d, s=s: hmac.new(s, d, hashlib.sha256).digest(),
        )  # type: ignore[misc]
        for s in (pem, jwk)
    ]
    forgeries.append(_forged({**header, "alg": "none"}, payload, lambda d: b""))
    # Another algorithm's header on the real kid, signed with the attacker's own key.
    for other in ("Ed25519", "ES256", "RS256"):
        if other == algorithm:
            continue
        attacker = generate_signing_key(now=0, activates_at=0, algorithm=other)
        name = "EdDSA" if other == "Ed25519" else other
        forgeries.append(_forged({**header, "alg": name}, payload, attacker.sign))
    for forged in forgeries:
        r = stack.call(forged, SERVICES)
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "token_invalid"
    assert len(stack.upstream_log()) == before  # nothing reached the provider
