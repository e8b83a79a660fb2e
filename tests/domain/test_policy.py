import pytest

from broker.domain.policy import (
    EMPTY_FLOOR,
    PolicyFloor,
    floor_from_spec,
    floor_to_spec,
)
from broker.domain.problems import SpecError


def test_floor_round_trip() -> None:
    floor = floor_from_spec(
        {"forbidden_actions": ["volume:delete", "backup:*"], "protected_environments": ["prod"]}
    )
    assert floor == PolicyFloor(("backup:*", "volume:delete"), ("prod",))
    assert floor_from_spec(floor_to_spec(floor)) == floor


def test_empty_floor() -> None:
    assert floor_from_spec({}) == EMPTY_FLOOR
    assert floor_to_spec(EMPTY_FLOOR) == {"forbidden_actions": [], "protected_environments": []}


def test_floor_problems() -> None:
    with pytest.raises(SpecError) as exc:
        floor_from_spec({"forbidden_actions": ["ok:x", "Bad"], "protected_environments": ["P"]})
    assert [p.path for p in exc.value.problems] == [
        "forbidden_actions[1]",
        "protected_environments[0]",
    ]
