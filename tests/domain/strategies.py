"""Hypothesis strategies and a brute-force reference matcher shared by the domain tests."""

from __future__ import annotations

import itertools
import re

from hypothesis import strategies as st

# Patterns use a and b; concrete actions also use c, a letter no pattern names,
# which is what makes the brute force exact (see pattern_subsumes).
PATTERN_ALPHABET = "ab*"
WORD_ALPHABET = "abc"


def words(max_len: int) -> list[str]:
    return [
        "".join(p)
        for n in range(1, max_len + 1)
        for p in itertools.product(WORD_ALPHABET, repeat=n)
    ]


SEGMENTS = words(4)
UNIVERSE = [f"{r}:{a}" for r in SEGMENTS for a in SEGMENTS]

segment_patterns = st.text(alphabet=PATTERN_ALPHABET, min_size=1, max_size=3)
action_patterns = st.builds(lambda r, a: f"{r}:{a}", segment_patterns, segment_patterns)
concrete_actions = st.sampled_from(UNIVERSE)


def reference_regex(pattern: str) -> re.Pattern[str]:
    """An independent matcher: each * becomes "anything but a colon"."""
    return re.compile("[^:]*".join(re.escape(part) for part in pattern.split("*")))


def matched(pattern: str) -> frozenset[str]:
    rx = reference_regex(pattern)
    return frozenset(x for x in UNIVERSE if rx.fullmatch(x))
