"""Relay paging, pure: every walk with first/after (or last/before) sees each item once."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.demo.railway.connections import connection, cursor
from broker.demo.railway.errors import BadInput


def _walk_forward(items: list[int], size: int) -> list[Any]:
    seen: list[Any] = []
    after = None
    while True:
        page = connection(items, {"first": size, "after": after})
        seen.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


@given(items=st.lists(st.integers(), max_size=30), size=st.integers(min_value=1, max_value=7))
def test_paging_forward_sees_every_item_once_in_order(items: list[int], size: int) -> None:
    assert _walk_forward(items, size) == items


@given(items=st.lists(st.integers(), max_size=30), size=st.integers(min_value=1, max_value=7))
def test_paging_backward_sees_every_item_once(items: list[int], size: int) -> None:
    seen: list[int] = []
    before = None
    while True:
        page = connection(items, {"last": size, "before": before})
        seen[:0] = [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert seen == items


def test_no_arguments_give_everything_and_empty_lists_have_no_cursors() -> None:
    page = connection(["a", "b"], {})
    assert [e["node"] for e in page["edges"]] == ["a", "b"]
    assert page["pageInfo"]["hasNextPage"] is False
    empty = connection([], {"first": 3})
    assert empty["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


@pytest.mark.parametrize(
    "args",
    [
        {"after": "garbage!"},
        {"after": cursor(5)},  # past the end of a two-item list
        {"before": "cmVwbGljYS1jdXJzb3I6LTE="},  # "replica-cursor:-1"
        {"first": -1},
        {"last": -2},
    ],
)
def test_bad_cursors_and_counts_are_refused(args: dict[str, Any]) -> None:
    with pytest.raises(BadInput):
        connection(["a", "b"], args)
