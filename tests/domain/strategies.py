"""Hypothesis strategies and a brute-force reference matcher shared by the domain tests."""

from __future__ import annotations

import itertools
import re

from hypothesis import strategies as st

from broker.domain.grants import Grant
from broker.domain.templates import Budgets

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


NO_BUDGETS = st.just(Budgets())


def grants(
    *,
    environments: st.SearchStrategy[str],
    actions: st.SearchStrategy[str],
    resources: st.SearchStrategy[str],
    budgets: st.SearchStrategy[Budgets] = NO_BUDGETS,
) -> st.SearchStrategy[Grant]:
    """Grants of template ``t`` version 1 for provider ``p``, built from these parts."""
    return st.builds(
        Grant,
        template_name=st.just("t"),
        template_version=st.just(1),
        provider=st.just("p"),
        environment=environments,
        actions=st.lists(actions, min_size=1, max_size=3).map(tuple),
        resources=st.lists(resources, min_size=1, max_size=2).map(tuple),
        ttl=st.just(60),
        budgets=budgets,
        approval_actions=st.lists(actions, max_size=2).map(tuple),
        approvers=st.integers(1, 3),
    )
