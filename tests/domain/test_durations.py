import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.domain.durations import MAX_DURATION, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"), [(90, 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("24h", 86400)]
)
def test_parse_duration(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        0,
        -5,
        "0s",
        "",
        "h",
        "1d",
        "1.5h",
        "15 m",
        "-1m",
        "1h30m",
        True,
        None,
        1.5,
        "25h",
        MAX_DURATION + 1,
        "\u0661\u0662s",
    ],
)
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match=r"duration|at least|limit"):
        parse_duration(value)


@given(st.integers(1, 1440))
def test_minutes_are_sixty_seconds(n: int) -> None:
    assert parse_duration(f"{n}m") == parse_duration(n * 60) == n * 60
