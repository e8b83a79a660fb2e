import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.globs import glob_match, glob_overlap

texts = st.text(alphabet="ab", max_size=6)
patterns = st.text(alphabet="ab*", max_size=5)


def _ref(pattern: str, text: str) -> bool:
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text, re.S) is not None


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("*", "", True),
        ("*", "anything/at:all", True),
        ("ci-*", "ci-build", True),
        ("ci-*", "cd-build", False),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "axxbyy", False),
        ("[ab]", "a", False),  # brackets are literal, unlike fnmatch
        ("[ab]", "[ab]", True),
        ("a?", "ab", False),  # so is ?
        ("", "", True),
        ("", "a", False),
    ],
)
def test_glob_match_examples(pattern: str, text: str, expected: bool) -> None:
    assert glob_match(pattern, text) is expected


@given(patterns, texts)
def test_glob_match_agrees_with_regex(pattern: str, text: str) -> None:
    assert glob_match(pattern, text) == _ref(pattern, text)


@settings(deadline=None)
@given(patterns, patterns)
def test_glob_overlap_agrees_with_brute_force(a: str, b: str) -> None:
    # A common string, if any, is at most as long as both patterns' literals together,
    # and needs no letter the patterns do not name (a star can take any of them).
    limit = len(a.replace("*", "")) + len(b.replace("*", ""))
    candidates = ("".join(p) for n in range(limit + 1) for p in itertools.product("ab", repeat=n))
    expected = any(_ref(a, w) and _ref(b, w) for w in candidates)
    assert glob_overlap(a, b) == expected
