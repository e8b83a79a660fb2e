"""The pure table from capbroker's reasons to RFC 6749 errors (broker/api/oauth_errors.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.api.oauth_errors import OAUTH_ERRORS, challenge, description, oauth_body, oauth_error
from broker.errors import BrokerError, Denied, InvalidRequest, Reason, Unavailable

# RFC 6749 5.2, RFC 6750 3.1, RFC 8693 2.2.2, RFC 8707, RFC 9396 5, RFC 7009 2.2.1, RFC 9449
# 12.3 and the IANA registry's server_error / temporarily_unavailable.
REGISTERED = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "invalid_authorization_details",
    "insufficient_scope",
    "unsupported_token_type",
    "invalid_dpop_proof",
    "server_error",
    "temporarily_unavailable",
}


@pytest.mark.parametrize("reason", list(Reason))
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 500, 503])
def test_every_reason_maps_to_a_registered_error(reason: Reason, status: int) -> None:
    mapped = oauth_error(reason, status)
    assert mapped.error in REGISTERED
    if mapped.status is not None:
        assert mapped.status in (400, 401, 403, 500, 503, status)


@pytest.mark.parametrize(
    ("reason", "error", "status"),
    [
        (Reason.FORBIDDEN_VERB, "invalid_scope", 400),
        (Reason.VERB_NOT_GRANTED, "invalid_scope", 400),
        (Reason.ENVIRONMENT_NOT_GRANTED, "invalid_authorization_details", 400),
        (Reason.KILL_SWITCH, "invalid_grant", 400),
        (Reason.TTL_TOO_LONG, "invalid_request", 400),
        (Reason.CREDENTIAL_INVALID, "invalid_client", 401),
        (Reason.INVALID_TARGET, "invalid_target", 400),
    ],
)
def test_policy_refusals_are_client_errors(reason: Reason, error: str, status: int) -> None:
    code, body = oauth_body(Denied("no", reason=reason))
    assert (code, body["error"], body["code"]) == (status, error, reason.value)


def test_faults_are_server_errors() -> None:
    code, body = oauth_body(Unavailable("vault is down", reason=Reason.SECRET_BACKEND_UNAVAILABLE))
    assert (code, body["error"]) == (503, "temporarily_unavailable")
    code, body = oauth_body(BrokerError("boom"))
    assert (code, body["error"]) == (500, "server_error")


def test_a_framework_status_is_kept_and_extras_are_filtered() -> None:
    error = InvalidRequest("too big", extra={"max": 5, "secret": "x", "error": "spoofed"})
    code, body = oauth_body(error, status=413)
    assert code == 413
    assert body == {
        "error": "invalid_request",
        "error_description": "too big",
        "code": "invalid_request",
        "max": 5,
    }


@given(st.text(max_size=600))
def test_descriptions_use_only_the_characters_rfc_6749_allows(detail: str) -> None:
    text = description(detail)
    assert len(text) <= 500
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in text)


def test_challenges_follow_the_clients_scheme() -> None:
    assert challenge("invalid_client", "Basic abc") == 'Basic realm="capbroker"'
    assert challenge("invalid_client", "") == 'Bearer realm="capbroker"'
    assert challenge("insufficient_scope", "Bearer x") == (
        'Bearer realm="capbroker", error="insufficient_scope"'
    )
    assert challenge("invalid_grant", "Basic abc") is None
    assert set(OAUTH_ERRORS) <= set(Reason)
