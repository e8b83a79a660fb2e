"""Bodies stream through the gateway intact, both ways, through the redactor's window."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator

import httpx

from tests.gateway.gateway_support import raw_request
from tests.support.echo_upstream import big_payload
from tests.support.stack import ECHO, Stack

FIVE_MB = 5 * 1024 * 1024


def test_a_5_mb_response_arrives_intact(shared_stack: Stack) -> None:
    expected = big_payload(FIVE_MB)
    received = bytearray()
    pieces = 0
    with httpx.stream(
        "GET",
        f"{shared_stack.url}/{ECHO}/big/{FIVE_MB}",
        headers={"Authorization": f"Bearer {shared_stack.echo_token()}"},
        timeout=30,
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        for piece in r.iter_raw():
            received += piece
            pieces += 1
    assert len(received) == FIVE_MB
    assert hashlib.sha256(received).digest() == hashlib.sha256(expected).digest()
    assert pieces > 1  # it came as a stream, not as one buffered block


def _slowly(body: bytes, piece: int) -> Iterator[bytes]:
    for i in range(0, len(body), piece):
        yield body[i : i + piece]
        if i % (piece * 16) == 0:
            time.sleep(0.005)


def test_a_request_body_streams_to_a_rule_that_does_not_read_it(shared_stack: Stack) -> None:
    """PUT /upload/{name} never reads the body: it is forwarded as it arrives, whole."""
    body = random.Random(7).randbytes(4 * 1024 * 1024 + 13)
    headers = [
        ("Authorization", f"Bearer {shared_stack.echo_token()}"),
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(len(body))),
    ]
    r = raw_request(
        shared_stack.url, "PUT", f"/{ECHO}/upload/blob", headers, _slowly(body, 32 * 1024)
    )
    assert r.status == 200, r.body[:300]
    report = r.json()
    assert report["method"] == "PUT"
    assert report["path"] == "/upload/blob"
    assert report["body_length"] == len(body)
    assert report["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_a_streamed_body_over_the_cap_is_refused_before_forwarding(shared_stack: Stack) -> None:
    headers = [
        ("Authorization", f"Bearer {shared_stack.echo_token()}"),
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(8 * 1024 * 1024 + 1)),
    ]
    r = raw_request(shared_stack.url, "PUT", f"/{ECHO}/upload/blob", headers, b"")
    assert r.status == 413
    assert r.header("content-type") == "application/problem+json"
    assert r.json()["code"] == "body_too_large"
