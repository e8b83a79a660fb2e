"""The one problem renderer: a BrokerError in, an RFC 9457 body out, for every front end."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from broker.errors import BrokerError, Denied, InvalidRequest, Reason, Unavailable
from broker.gateway.server import _BODY
from broker.problems import CALLER_EXTRAS, problem_body

BROKER = Path(__file__).resolve().parents[2] / "broker"


def test_the_body_names_type_title_status_detail_and_code() -> None:
    assert problem_body(Unavailable("the database is down")) == {
        "type": "https://capbroker.dev/problems/database_unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "the database is down",
        "code": "database_unavailable",
    }


def test_instance_when_given() -> None:
    body = problem_body(Denied("no"), instance="/v1/tokens")
    assert body["instance"] == "/v1/tokens"
    assert "instance" not in problem_body(Denied("no"))
    assert "instance" not in problem_body(Denied("no"), instance="")


def test_only_caller_extras_are_shown() -> None:
    error = Denied(
        "held",
        reason=Reason.APPROVAL_REQUIRED,
        extra={"approval_id": "apr-1", "approval_url": "u", "master_key": "s3cret"},
    )
    body = problem_body(error)
    assert (body["approval_id"], body["approval_url"]) == ("apr-1", "u")
    assert "master_key" not in body


def test_a_foreign_refusal_keeps_its_status_and_title() -> None:
    error = BrokerError("no such route", reason=Reason.NOT_FOUND)
    body = problem_body(error, status=404, title="Request refused")
    assert (body["status"], body["title"], body["code"]) == (404, "Request refused", "not_found")


def test_the_gateway_parsers_400_is_unchanged() -> None:
    assert json.loads(_BODY) == {
        "type": "https://capbroker.dev/problems/invalid_request",
        "title": "Invalid request",
        "status": 400,
        "detail": "the request is not valid HTTP/1.1",
        "code": "invalid_request",
        "refusal": "malformed_http",
    }
    body = problem_body(InvalidRequest("x", extra={"refusal": "malformed_http"}))
    assert list(json.loads(_BODY)) == list(body)  # the same fields, in the same order


def test_every_extra_key_the_broker_sets_is_a_caller_extra() -> None:
    """A new ``extra`` key stays hidden until CALLER_EXTRAS names it; this says so early."""
    keys: set[str] = set()
    for path in BROKER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # ``extra={...}`` in a call, and ``extra = {...}`` built first
            is_keyword = isinstance(node, ast.keyword) and node.arg == "extra"
            is_assign = isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "extra" for t in node.targets
            )
            value = getattr(node, "value", None)
            if (is_keyword or is_assign) and isinstance(value, ast.Dict):
                keys.update(str(k.value) for k in value.keys if isinstance(k, ast.Constant))
    assert keys, "the pattern no longer finds the extras"
    assert keys <= CALLER_EXTRAS, sorted(keys - CALLER_EXTRAS)
