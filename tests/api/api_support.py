"""Small helpers for API tests."""

from __future__ import annotations

import base64
import json
from typing import Any


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"].endswith(code)
    assert body["title"]
    assert isinstance(body["detail"], str)
    return body


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(head))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def count_rows(broker: Any, table: str) -> int:
    from sqlalchemy import text

    with broker.services.db.read() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def assert_oauth_error(response: Any, status: int, error: str, code: str) -> dict[str, Any]:
    """An RFC 6749 5.2 error: application/json, ``error``, ``error_description`` in the
    allowed characters, capbroker's ``code`` beside them, never cached."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json", response.headers
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert body["code"] == code, body
    text = body["error_description"]
    assert text
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in text), text
    assert "type" not in body
    assert "status" not in body
    return body
