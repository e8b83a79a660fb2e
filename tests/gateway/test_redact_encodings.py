"""The redactor, a pure function, against a table of ways a framework echoes a key back;
then the permissive upstream echoing each of them through the gateway, over sockets.

Each encoding comes from the permissive upstream's ``ENCODINGS``: embedded in text, in a
JSON body, across chunk boundaries at every split, the key must never come out, in any
spelling, and every length stays the same. Near misses (another key, ordinary escapes)
come out untouched."""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.gateway.redact import StreamRedactor, redaction_for
from tests.gateway.gateway_support import raw_request
from tests.support.permissive_upstream import ENCODINGS
from tests.support.stack import PERMISSIVE, Stack

# '/', '+', '=' and ':' give every encoding something to change
KEYS = [
    b"sk_live_" + secrets.token_urlsafe(24).encode() + b"/+=:",
    secrets.token_urlsafe(32).encode(),
    base64.b64encode(secrets.token_bytes(30)),
]


def spellings(key: bytes) -> dict[str, bytes]:
    return {name: encode(key) for name, encode in ENCODINGS.items()}


def leaks(out: bytes, key: bytes) -> list[str]:
    """Which spellings of ``key`` are still in ``out`` (names only: never print a key)."""
    return [name for name, form in spellings(key).items() if len(form) >= 8 and form in out]


def streamed(data: bytes, key: bytes, split: int) -> bytes:
    redactor = StreamRedactor(redaction_for((key,)))
    return redactor.feed(data[:split]) + redactor.feed(data[split:]) + redactor.finish()


@pytest.mark.parametrize("key", KEYS, ids=["special-chars", "urlsafe", "base64-key"])
@pytest.mark.parametrize("name", list(ENCODINGS))
def test_every_spelling_is_redacted_in_place(name: str, key: bytes) -> None:
    form = ENCODINGS[name](key)
    data = b'{"echo": "got ' + form + b' back", "next": 1}'
    out = redaction_for((key,)).scrub(data)
    assert len(out) == len(data)
    assert leaks(out, key) == []
    assert out.startswith(b'{"echo": "got ')
    assert out.endswith(b' back", "next": 1}')
    starred = out[len(b'{"echo": "got ') : -len(b' back", "next": 1}')]
    # all of it starred but, for base64, a character or two of the text around the key
    assert starred.count(b"*") >= len(form) - 4, name


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_a_spelling_split_across_chunks_is_redacted_at_every_split(name: str) -> None:
    key = KEYS[0]
    data = b"before " + ENCODINGS[name](key) + b" after"
    for split in range(len(data) + 1):
        out = streamed(data, key, split)
        assert len(out) == len(data)
        assert leaks(out, key) == [], (name, split)


def test_base64_of_a_basic_credential_at_any_alignment() -> None:
    key = KEYS[0]
    for user in (b"", b"u", b"us", b"use", b"user"):
        credential = base64.b64encode(user + b":" + key)
        out = redaction_for((key,)).scrub(b"Basic " + credential)
        hidden = out.removeprefix(b"Basic ")
        assert base64.b64decode(credential).endswith(key)
        assert hidden.count(b"*") >= len(credential) - 4 * len(user) // 3 - 4, user


def test_percent_encoded_base64_in_a_url_is_redacted() -> None:
    key = KEYS[2]
    url = b"https://example.test/cb?token=" + quote(base64.b64encode(key), safe="").encode()
    out = redaction_for((key,)).scrub(url)
    assert out.startswith(b"https://example.test/cb?token=")
    assert out.count(b"*") >= len(url) - len(b"https://example.test/cb?token=") - 8


def test_json_escapes_any_mix_of_bytes() -> None:
    key = KEYS[0]
    mixed = "".join(f"\\u{b:04X}" if i % 3 else chr(b) for i, b in enumerate(key)).encode()
    body = json.dumps({"a": "x"}).encode()[:-1] + b', "k": "' + mixed + b'"}'
    assert json.loads(body)["k"].encode() == key  # a JSON decoder reads the key back
    assert leaks(redaction_for((key,)).scrub(body), key) == []
    assert key not in json.loads(redaction_for((key,)).scrub(body))["k"].encode()


@pytest.mark.parametrize(
    "data",
    [
        b'{"text": "line\\nbreak \\"quoted\\" \\\\ back\\/slash %20 %2F %41"}',
        b"GET /a%2Fb?q=%E2%82%AC HTTP/1.1",
        base64.b64encode(b"user:another-key-entirely-of-the-same-shape"),
        b"",
    ],
    ids=["json-escapes", "percent-escapes", "other-base64", "empty"],
)
def test_near_misses_come_out_untouched(data: bytes) -> None:
    assert redaction_for(tuple(KEYS)).scrub(data) == data
    assert streamed(data, KEYS[0], len(data) // 2) == data


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.binary(max_size=64),
    suffix=st.binary(max_size=64),
    name=st.sampled_from(sorted(ENCODINGS)),
    split=st.integers(min_value=0, max_value=400),
)
def test_any_surroundings_any_split(prefix: bytes, suffix: bytes, name: str, split: int) -> None:
    key = KEYS[0]
    data = prefix + ENCODINGS[name](key) + suffix
    out = streamed(data, key, min(split, len(data)))
    assert len(out) == len(data)
    assert leaks(out, key) == []


def test_an_upstream_echoing_the_key_in_every_encoding_leaks_none(
    permissive_stack: Stack,
) -> None:
    """Over the sockets: the permissive upstream echoes the injected key in each encoding,
    in a header of its own and in its JSON body; the agent sees none of them."""
    stack = permissive_stack
    key = stack.permissive_key.encode()
    r = raw_request(
        stack.url,
        "GET",
        f"/{PERMISSIVE}/echo-key",
        [("Authorization", f"Bearer {stack.permissive_token()}")],
    )
    assert r.status == 200, r.status
    assert stack.permissive is not None
    [seen] = stack.permissive.received()
    assert seen.header("x-api-key") == stack.permissive_key  # it was injected, and echoed
    everything = r.body + b"".join(v.encode("latin-1") for _, v in r.headers)
    assert leaks(everything, key) == []
    assert key not in everything
    echoed = {
        k.lower().removeprefix("x-echo-"): v
        for k, v in r.headers
        if k.lower().startswith("x-echo-")
    }
    assert sorted(echoed) == sorted(ENCODINGS)  # every encoding came back, redacted
    assert int(r.header("content-length") or -1) == len(r.body)
    body = json.loads(r.body)
    for name, form in spellings(key).items():
        assert len(body[name]) == len(form), name  # starred in place, nothing shifted
        assert body[name].count("*") >= len(form) - 4, name
        assert echoed[name].count("*") >= len(form) - 4, name
