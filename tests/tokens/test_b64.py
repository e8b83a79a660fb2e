from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.tokens._b64 import b64url_decode, b64url_encode

URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(st.binary(max_size=100))
def test_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data


@settings(max_examples=3000)
@given(st.text(alphabet=st.sampled_from(URL_ALPHABET + "+/= \n.\x00é"), max_size=12))
def test_accepts_exactly_the_canonical_encodings(text: str) -> None:
    canonical = all(c in URL_ALPHABET for c in text) and len(text) % 4 != 1
    if canonical:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        canonical = b64url_encode(decoded) == text
    try:
        b64url_decode(text)
    except ValueError:
        assert not canonical
    else:
        assert canonical


@pytest.mark.parametrize("text", ["AB", "AAB", "QR", "QUJ", "A=", "AA==", "A", "QUJD+", "QUJD/"])
def test_refuses_non_canonical_padding_and_std_alphabet(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_decodes_known_values() -> None:
    assert b64url_decode("") == b""
    assert b64url_decode("QQ") == b"A"
    assert b64url_decode("-_8") == b"\xfb\xff"
