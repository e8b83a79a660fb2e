"""Path templates: parsing, overlap detection, and the trie against a linear scan."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.routemap.paths import PathIndex, PathTemplateError, parse_path_template


@pytest.mark.parametrize(
    "bad",
    [
        "repos",
        "/repos/",
        "/a//b",
        "/a/../b",
        "/a/{x}/{x}",
        "/a/{x+}/b",
        "/a/{1x}",
        "/a/b%2F",
        "/a/pre{x}",
        "/a/b;c",
    ],
)
def test_bad_templates(bad: str) -> None:
    with pytest.raises(PathTemplateError):
        parse_path_template(bad)


def test_case_insensitive_maps_need_lower_case_literals() -> None:
    with pytest.raises(PathTemplateError):
        parse_path_template("/Repos/{x}", case_insensitive=True)


def _overlap(a: str, b: str) -> bool:
    index: PathIndex[str] = PathIndex()
    index.add(parse_path_template(a), a)
    return bool(index.overlaps(parse_path_template(b)))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("/repos/{o}/{r}", "/repos/acme/{r}", True),
        ("/repos/{o}/{r}", "/repos/{x}/{y}", True),
        ("/repos/{o}/{r}", "/repos/{o}", False),
        ("/repos/a/{r}", "/repos/b/{r}", False),
        ("/a/{x}/c", "/a/b/{y}", True),
        ("/a/{p+}", "/a/b/c/d", True),
        ("/a/{p+}", "/a", False),
        ("/a/{p+}", "/a/{q+}", True),
        ("/a/b/{p+}", "/a/{x}/c", True),
        ("/a/b/{p+}", "/a/c/{q+}", False),
        ("/", "/", True),
        ("/", "/a", False),
    ],
)
def test_overlap_examples(a: str, b: str, expected: bool) -> None:
    assert _overlap(a, b) is expected
    assert _overlap(b, a) is expected


SEGS = st.sampled_from(["a", "b", "{p}", "{q}"])


@st.composite
def templates(draw: st.DrawFn) -> str:
    segs = draw(st.lists(SEGS, max_size=4))
    names = iter(f"v{i}" for i in range(10))
    segs = [next(names) if s.startswith("{") else s for s in segs]
    text = "/" + "/".join("{" + s + "}" if s.startswith("v") else s for s in segs)
    if draw(st.booleans()):
        text = text.rstrip("/") + "/{tail+}"
    return text


@st.composite
def concrete(draw: st.DrawFn) -> tuple[str, ...]:
    return tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=6)))


@settings(max_examples=150, deadline=None)
@given(st.lists(templates(), max_size=8), st.lists(concrete(), max_size=20))
def test_overlap_and_match_agree_with_brute_force(
    texts: list[str], paths: list[tuple[str, ...]]
) -> None:
    index: PathIndex[str] = PathIndex()
    accepted = []
    for text in texts:
        template = parse_path_template(text)
        if index.overlaps(template):
            continue
        index.add(template, text)
        accepted.append(template)
    for path in paths:
        linear = [t.text for t in accepted if t.match(path) is not None]
        assert len(linear) <= 1  # accepted templates never overlap
        assert [v for v, _ in index.match(path)] == linear


ALL_PATHS = [tuple(p) for n in range(7) for p in itertools.product("abc", repeat=n)]


@settings(max_examples=150, deadline=None)
@given(templates(), templates())
def test_overlap_is_exact(a: str, b: str) -> None:
    ta, tb = parse_path_template(a), parse_path_template(b)
    witness = any(ta.match(p) is not None and tb.match(p) is not None for p in ALL_PATHS)
    assert _overlap(a, b) is witness
