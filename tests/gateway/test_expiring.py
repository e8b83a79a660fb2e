"""The gateway's per-token cache: entries leave at expiry (swept) and when it is full."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker.gateway.expiring import ExpiringCache


def test_entries_are_served_until_they_expire_and_swept_after() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(10)
    cache.put("a", 1, expires=10.0)
    cache.put("b", 2, expires=20.0)
    assert cache.get("a", 9.9) == 1
    assert cache.get("a", 10.0) is None  # expired on read
    assert cache.sweep(19.0) == 0  # "a" already went; "b" has not expired
    assert cache.sweep(20.0) == 1
    assert len(cache) == 0


def test_a_full_cache_drops_its_oldest_entry() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(3)
    for i, key in enumerate("abcd"):
        cache.put(key, i, expires=100.0)
    assert len(cache) == 3
    assert cache.get("a", 0) is None
    assert [cache.get(k, 0) for k in "bcd"] == [1, 2, 3]


def test_a_key_put_again_keeps_its_newer_expiry() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(3)
    cache.put("a", 1, expires=10.0)
    cache.put("a", 2, expires=30.0)
    assert cache.sweep(20.0) == 0
    assert cache.get("a", 25.0) == 2


@given(st.lists(st.tuples(st.integers(0, 50), st.floats(0, 100)), max_size=300))
def test_size_and_the_due_list_stay_bounded(puts: list[tuple[int, float]]) -> None:
    cache: ExpiringCache[int, int] = ExpiringCache(20)
    for key, expires in puts:
        cache.put(key, key, expires)
        assert len(cache) <= 20
        assert len(cache._due) <= 2 * 20 + 1
    cache.sweep(100.0)
    assert len(cache) == 0
