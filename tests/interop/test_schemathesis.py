"""Schemathesis over the published OpenAPI document, against the real broker on a socket:
no 5xx, no status, media type or body shape the document does not describe.

Bounded: a few examples per operation (``MAX_EXAMPLES``), seconds on two cores."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.interop.conftest import RESOURCE_SERVER, LiveBroker

MAX_EXAMPLES = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def broker_schema(live: LiveBroker) -> Any:
    return schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json")


schema = schemathesis.pytest.from_fixture("broker_schema")


def _credential(live: LiveBroker, path: str) -> dict[str, str]:
    """Real credentials in place of generated ones, so calls reach the handlers (and
    their refusals) beyond a 401."""
    if path.startswith(("/v1/admin/", "/v1/sessions/")):
        return {"Authorization": f"Bearer {live.admin}"}
    if path == "/v1/tokens":
        return {"Authorization": f"Bearer {live.agent}"}
    if path in ("/oauth/introspect", "/oauth/revoke"):
        pair = base64.b64encode(f"{RESOURCE_SERVER}:{live.rs_secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_broker_matches_its_openapi_document(case: Any, live: LiveBroker) -> None:
    headers = _credential(live, case.path)
    case.call_and_validate(base_url=live.url, headers=headers or None, checks=CHECKS)
