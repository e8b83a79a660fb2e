import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.actions import (
    action_matches,
    covered_by,
    is_valid_action,
    pattern_subsumes,
    patterns_overlap,
    validate_action,
)
from broker.errors import InvalidRequest, Reason

from .strategies import action_patterns, concrete_actions, matched, reference_regex


@pytest.mark.parametrize(
    "s", ["volume:read", "deployment:create", "a.b-c_d:x", "0:9", "volume:delete-all"]
)
def test_concrete_actions_are_valid(s: str) -> None:
    assert validate_action(s, allow_wildcards=False) == s


@pytest.mark.parametrize("s", ["volume:*", "*:read", "deploy*:create", "*:*", "a*b:c*d"])
def test_patterns_need_allow_wildcards(s: str) -> None:
    assert validate_action(s, allow_wildcards=True) == s
    with pytest.raises(InvalidRequest) as exc:
        validate_action(s, allow_wildcards=False)
    assert exc.value.reason is Reason.INVALID_REQUEST


@pytest.mark.parametrize(
    "s",
    [
        "",
        "volume",
        "Volume:Delete",
        "volume:read:extra",
        ":read",
        "volume:",
        "volume read",
        "volume:re?d",
        "volume:[rw]",
        "volume:réad",
        "a" * 120 + ":" + "b" * 8,
        "volume:read\n",
    ],
)
def test_malformed_actions_are_refused(s: str) -> None:
    assert not is_valid_action(s, allow_wildcards=True)
    with pytest.raises(InvalidRequest, match="not a valid action"):
        validate_action(s, allow_wildcards=True)


def test_non_strings_are_refused() -> None:
    assert not is_valid_action(5, allow_wildcards=True)
    with pytest.raises(InvalidRequest):
        validate_action(None, allow_wildcards=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("volume:*", "volume:delete", True),
        ("volume:*", "volumes:delete", False),
        ("*:read", "volume:read", True),
        ("*:read", "volume:write", False),
        ("deploy*:create", "deployment:create", True),
        ("v*e", "volume:e", False),  # a malformed pattern matches nothing
        ("*", "volume:read", False),  # a * never crosses the colon
        ("volume:*", "volume:*", False),  # the action must be concrete
    ],
)
def test_action_matches_examples(pattern: str, action: str, expected: bool) -> None:
    assert action_matches(pattern, action) is expected


def test_subsumes_and_overlap_examples() -> None:
    assert pattern_subsumes("volume:*", "volume:del*")
    assert not pattern_subsumes("volume:del*", "volume:*")
    assert pattern_subsumes("*:*", "deploy*:create")
    assert patterns_overlap("volume:*", "*:delete")
    assert not patterns_overlap("volume:*", "backup:*")
    assert not patterns_overlap("volume:a*", "volume:b*")
    assert covered_by(["project:read", "volume:*"], "volume:snapshot")
    assert not covered_by(["project:read"], "volume:snapshot")
    assert not covered_by([], "volume:snapshot")


def test_covered_by_wants_a_single_pattern() -> None:
    # a* alone subsumes ab*; * is covered only by a* and b* together, which is not enough.
    assert covered_by(["volume:a*", "volume:b*"], "volume:ab*")
    assert not covered_by(["volume:a*", "volume:b*"], "volume:*")


@settings(max_examples=150)
@given(action_patterns, concrete_actions)
def test_action_matches_agrees_with_reference(pattern: str, action: str) -> None:
    assert action_matches(pattern, action) == bool(reference_regex(pattern).fullmatch(action))


@settings(max_examples=150, deadline=None)
@given(action_patterns, action_patterns)
def test_pattern_subsumes_agrees_with_brute_force(general: str, specific: str) -> None:
    assert pattern_subsumes(general, specific) == (matched(specific) <= matched(general))


@settings(max_examples=150, deadline=None)
@given(action_patterns, action_patterns)
def test_patterns_overlap_agrees_with_brute_force(a: str, b: str) -> None:
    assert patterns_overlap(a, b) == bool(matched(a) & matched(b))
    assert patterns_overlap(a, b) == patterns_overlap(b, a)


@settings(max_examples=100, deadline=None)
@given(st.lists(action_patterns, max_size=4), action_patterns)
def test_covered_by_agrees_with_brute_force(patterns: list[str], action: str) -> None:
    expected = any(matched(action) <= matched(p) for p in patterns)
    assert covered_by(patterns, action) == expected


@given(concrete_actions)
def test_a_concrete_action_subsumes_exactly_itself(action: str) -> None:
    assert pattern_subsumes(action, action)
    assert covered_by([action], action)
