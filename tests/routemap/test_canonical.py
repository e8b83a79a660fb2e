"""Canonical form: examples, and hypothesis properties over raw path spellings."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.errors import BrokerError
from broker.routemap import PathOptions, canonical, canonical_request, classify, refusal_code

from .support import github

SEG = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..")
)


def test_examples() -> None:
    c = canonical_request("GET", "/a//b/./c/../d%7E/", "x=1&y=a+b")
    assert c.segments == ("a", "b", "d~")
    assert c.path == "/a/b/d~"
    assert c.query == (("x", "1"), ("y", "a b"))
    assert canonical_request("GET", "/").segments == ()
    assert canonical_request("GET", "/%41%62").segments == ("Ab",)
    assert canonical_request("GET", "/caf%C3%A9").wire_path == "/caf%C3%A9"


def test_case_insensitive_and_trailing_slash_options() -> None:
    lower = PathOptions(case_insensitive=True)
    assert canonical_request("GET", "/Repos/ACME", options=lower).segments == ("repos", "acme")
    refuse = PathOptions(trailing_slash="refuse")
    with pytest.raises(BrokerError) as caught:
        canonical_request("GET", "/a/", options=refuse)
    assert refusal_code(caught.value) == "trailing_slash"
    assert canonical_request("GET", "/a", options=refuse).segments == ("a",)


def test_content_type_is_reduced_to_the_media_type() -> None:
    c = canonical_request("POST", "/x", "", {"Content-Type": "Application/JSON; charset=UTF-8"})
    assert c.content_type == "application/json"


def _spellings(draw: st.DrawFn, segments: list[str]) -> str:
    """A raw path that must canonicalise to ``segments``: encodings, dots, slashes."""
    out = ""
    for seg in segments:
        if draw(st.booleans()):
            out += "/" * draw(st.integers(1, 3))
        out += "/"
        if draw(st.booleans()):
            out += "./"
        if draw(st.booleans()):
            out += draw(SEG) + "/../"
        out += "".join(
            f"%{ord(ch):02{draw(st.sampled_from('xX'))}}" if draw(st.booleans()) else ch
            for ch in seg
        )
    if draw(st.booleans()):
        out += "/"
    return out or "/"


@st.composite
def raw_paths(draw: st.DrawFn) -> tuple[list[str], str]:
    segments = draw(st.lists(SEG, max_size=6))
    return segments, _spellings(draw, segments)


@settings(max_examples=100, deadline=None)
@given(raw_paths())
def test_spellings_canonicalise_to_one_form(case: tuple[list[str], str]) -> None:
    segments, raw = case
    c = canonical_request("GET", raw)
    assert c.segments == tuple(segments)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="/%2fFaAeE.;\\0123456789abcdefz~-", max_size=30).map(lambda s: "/" + s))
def test_canonicalisation_is_idempotent(raw: str) -> None:
    try:
        first = canonical_request("GET", raw)
    except BrokerError:
        return
    again = canonical_request("GET", first.wire_path)
    assert again == first


_GITHUB_WORDS = [
    "repos",
    "acme",
    "app",
    "contents",
    "pulls",
    "1",
    "issues",
    "deployments",
    "environments",
    "staging",
    "statuses",
    "merge",
    "x.md",
    "secrets",
    "variables",
]


@st.composite
def github_paths(draw: st.DrawFn) -> tuple[str, str]:
    segments = draw(st.lists(st.sampled_from(_GITHUB_WORDS), min_size=1, max_size=7))
    return _spellings(draw, segments), _spellings(draw, segments)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(github_paths(), st.sampled_from(["GET", "PUT", "DELETE", "PATCH"]))
def test_same_canonical_form_classifies_the_same(paths: tuple[str, str], method: str) -> None:
    def outcome(raw: str) -> object:
        try:
            return classify(github(), canonical_request(method, raw))
        except BrokerError as exc:
            return refusal_code(exc)

    assert outcome(paths[0]) == outcome(paths[1])


@settings(max_examples=100, deadline=None)
@given(github_paths(), st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
def test_an_accepted_path_matches_only_its_rule(paths: tuple[str, str], method: str) -> None:
    """The trie's answer equals a linear scan of every rule over the canonical form."""
    c = canonical_request(method, paths[0])
    linear = [
        r for r in github().rest if r.method == method and r.template.match(c.segments) is not None
    ]
    try:
        result = classify(github(), c, b"{}" if method != "GET" else b"")
    except BrokerError as exc:
        if refusal_code(exc) == "unknown_route":
            assert linear == []
        return
    assert [r.label for r in linear] == [result.rule]


def _outcome(decode: Callable[[str], str], raw: str) -> str:
    try:
        return "ok:" + decode(raw)
    except BrokerError as refused:
        return "refused:" + refusal_code(refused)


# Every printable ASCII character, escapes of the bytes that matter, and some non-ASCII.
RAW_SEGMENT = st.lists(
    st.sampled_from(
        [chr(o) for o in range(0x20, 0x7F) if chr(o) != "/"]
        + ["%2F", "%2f", "%25", "%5C", "%3B", "%41", "%C3%A9", "%FF", "%0A", "%", "\x00", "é"]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=800)
@given(RAW_SEGMENT)
def test_the_plain_segment_shortcut_decodes_as_the_full_decoder(raw: str) -> None:
    assert _outcome(canonical._decode_segment, raw) == _outcome(
        canonical._decode_escaped_segment, raw
    )


@settings(max_examples=800)
@given(st.text(max_size=12))
def test_the_plain_wire_shortcut_encodes_as_quote(segment: str) -> None:
    request = canonical.CanonicalRequest("GET", (segment, "x"))
    assert request.wire_path == "/" + quote(segment, safe=canonical._PATH_SAFE) + "/x"
