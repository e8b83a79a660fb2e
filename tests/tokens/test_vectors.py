"""Fixed vectors: a JWKS, a token, a time, and the expected outcome, kept as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker.tokens import InvalidToken, TokenVerifier, keys_from_jwks

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))


def test_vectors_are_present() -> None:
    assert len(VECTORS) >= 10


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    vector: dict[str, Any] = json.loads(path.read_text())
    keys = keys_from_jwks(vector["jwks"])
    verifier = TokenVerifier(keys.get, issuer=vector["issuer"], audience=vector["audience"])
    expect = vector["expect"]
    if expect["accepted"]:
        assert dict(verifier.verify(vector["token"], now=vector["now"]).claims) == expect["claims"]
    else:
        with pytest.raises(InvalidToken) as caught:
            verifier.verify(vector["token"], now=vector["now"])
        assert caught.value.reason == expect["reason"]
