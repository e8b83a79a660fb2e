"""The claim checks of a client assertion (broker.tokens.assertion), pure: the rules one by
one, and properties over generated claim sets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.tokens import InvalidToken
from broker.tokens.assertion import MAX_ASSERTION_LIFETIME, check_assertion_claims

NOW = 1_900_000_000.0
ISSUER = "https://broker.example"
ENDPOINT = f"{ISSUER}/oauth/introspect"
LEEWAY = 30


def _claims(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": "rs",
        "sub": "rs",
        "aud": ISSUER,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": "j-1",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _check(claims: dict[str, Any], now: float = NOW) -> Any:
    return check_assertion_claims(
        claims, client_id="rs", audiences=(ISSUER, ENDPOINT), now=now, leeway=LEEWAY
    )


def test_a_good_assertion() -> None:
    checked = _check(_claims())
    assert (checked.client_id, checked.jti, checked.exp) == ("rs", "j-1", NOW + 60)
    assert _check(_claims(iat=None, aud=[ENDPOINT])).jti == "j-1"


@pytest.mark.parametrize(
    ("over", "cause"),
    [
        ({"iss": "other"}, "iss and sub"),
        ({"sub": "other"}, "iss and sub"),
        ({"sub": None}, "iss and sub"),
        ({"aud": None}, "wrong aud"),
        ({"aud": []}, "wrong aud"),
        ({"aud": [ISSUER, "https://other.example"]}, "wrong aud"),
        ({"aud": f"{ISSUER}/oauth/token"}, "wrong aud"),
        ({"aud": ISSUER + "/"}, "wrong aud"),
        ({"aud": [1]}, "wrong aud"),
        ({"exp": None}, "exp missing"),
        ({"exp": "soon"}, "NumericDate"),
        ({"exp": True}, "NumericDate"),
        ({"exp": float("nan")}, "NumericDate"),
        ({"exp": NOW - LEEWAY}, "expired"),
        ({"exp": NOW + MAX_ASSERTION_LIFETIME + LEEWAY + 1, "iat": None}, "too far"),
        ({"iat": NOW + LEEWAY + 1, "exp": NOW + 120}, "iat"),
        ({"iat": NOW - MAX_ASSERTION_LIFETIME, "exp": NOW + 1}, "iat"),
        ({"nbf": NOW + LEEWAY + 1}, "nbf"),
        ({"jti": None}, "jti"),
        ({"jti": ""}, "jti"),
        ({"jti": 7}, "jti"),
        ({"jti": "x" * 201}, "jti"),
    ],
)
def test_each_rule_refuses(over: dict[str, Any], cause: str) -> None:
    with pytest.raises(InvalidToken) as raised:
        _check(_claims(**over))
    assert cause in raised.value.audit_detail
    assert raised.value.detail == "the capability token was not accepted"  # opaque


def test_leeway_both_ways() -> None:
    assert _check(_claims(exp=NOW - LEEWAY + 1)).exp == NOW - LEEWAY + 1
    assert _check(_claims(iat=NOW + LEEWAY, nbf=NOW + LEEWAY, exp=NOW + 120)).jti


@given(
    exp_offset=st.floats(min_value=-10_000, max_value=10_000, allow_nan=False),
    iat_offset=st.one_of(st.none(), st.floats(min_value=-10_000, max_value=10_000)),
)
def test_accepted_exactly_within_the_time_bounds(
    exp_offset: float, iat_offset: float | None
) -> None:
    claims = _claims(exp=NOW + exp_offset, iat=None if iat_offset is None else NOW + iat_offset)
    within = -LEEWAY < exp_offset <= MAX_ASSERTION_LIFETIME + LEEWAY and (
        iat_offset is None
        or (iat_offset <= LEEWAY and exp_offset - iat_offset <= MAX_ASSERTION_LIFETIME)
    )
    try:
        _check(claims)
    except InvalidToken:
        assert not within
    else:
        assert within


@given(aud=st.one_of(st.text(max_size=40), st.lists(st.text(max_size=40), max_size=4)))
def test_only_our_audiences_pass(aud: str | list[str]) -> None:
    members = [aud] if isinstance(aud, str) else aud
    ours = bool(members) and all(a in (ISSUER, ENDPOINT) for a in members)
    try:
        _check(_claims(aud=aud))
    except InvalidToken:
        assert not ours
    else:
        assert ours


@given(audiences=st.sampled_from([[ISSUER], [ENDPOINT], [ISSUER, ENDPOINT], ISSUER, ENDPOINT]))
def test_our_audiences_pass_in_any_form(audiences: str | list[str]) -> None:
    assert _check(_claims(aud=audiences)).client_id == "rs"
