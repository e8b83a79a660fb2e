"""broker/limits.py: the depth, NUL and surrogate limits every JSON/YAML entry point uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.limits import (
    MAX_DEPTH,
    InputProblem,
    check_document,
    json_deeper_than,
    may_be_deep,
    parse_json,
)


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_depth_at_the_limit_passes_and_one_more_is_refused() -> None:
    check_document(nested(MAX_DEPTH))
    with pytest.raises(InputProblem, match="nested more than 32 levels") as refused:
        check_document(nested(MAX_DEPTH + 1))
    assert refused.value.path.startswith("k[0].k[0]")


def test_far_deeper_than_python_recurses_is_refused_without_recursion() -> None:
    text = "[" * 200_000 + "]" * 200_000
    with pytest.raises(InputProblem, match="nested more than"):
        parse_json(text)
    deep = json.loads("[" * 900 + "]" * 900)
    with pytest.raises(InputProblem):
        check_document(deep)


@pytest.mark.parametrize(
    ("value", "path", "what"),
    [
        ({"a": ["ok", "b\x00"]}, "a[1]", "NUL"),
        ({"a": {"b\x00": 1}}, "a", "a key contains a NUL"),
        ({"s": "x\ud800"}, "s", "lone surrogate"),
        ([{"t": "\udfff"}], "[0].t", "lone surrogate"),
    ],
)
def test_text_no_store_can_keep_is_refused_with_its_place(value: Any, path: str, what: str) -> None:
    with pytest.raises(InputProblem, match=what) as refused:
        check_document(value)
    assert refused.value.path == path


def test_parse_json_refuses_escaped_nul_and_bad_json() -> None:
    with pytest.raises(InputProblem, match="NUL"):
        parse_json('{"a": "\\u0000"}')
    with pytest.raises(ValueError, match="Expecting"):
        parse_json("{")
    with pytest.raises(InputProblem, match="larger than"):
        parse_json(" " * (1 << 20) + "1")


def test_may_be_deep_never_misses_a_deep_document() -> None:
    assert not may_be_deep(b'{"a": [1, 2]}')
    assert may_be_deep(b"[" * 33)
    assert may_be_deep("{" * 33)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _bad_text(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_bad_text(k) or _bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_bad_text(v) for v in value)
    return False


@settings(max_examples=300, deadline=None)
@given(value=json_values, limit=st.integers(1, 6))
def test_refused_exactly_when_too_deep_or_holding_nul(value: Any, limit: int) -> None:
    expect_refused = _depth(value) > limit or _bad_text(value)
    try:
        check_document(value, max_depth=limit)
    except InputProblem:
        assert expect_refused
    else:
        assert not expect_refused
    # the cheap pre-test never says "shallow" of a document that is deep
    if _depth(value) > limit:
        assert may_be_deep(json.dumps(value), limit)


@settings(max_examples=300, deadline=None)
@given(value=json_values, limit=st.integers(0, 6), ascii_only=st.booleans())
def test_text_depth_agrees_with_the_parsed_depth(value: Any, limit: int, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert json_deeper_than(text, limit) is (_depth(value) > limit)


def test_brackets_and_escapes_inside_strings_do_not_count() -> None:
    assert not json_deeper_than(json.dumps(["[[[[{{{{", '\\"[[', "]]]"]), 1)
    assert json_deeper_than(json.dumps([["\\"]]), 1)
