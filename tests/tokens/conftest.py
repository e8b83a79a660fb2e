"""Fixtures for token tests: one signing key and a verifier that knows only it."""

from __future__ import annotations

import pytest

from broker.tokens import SigningKey, TokenVerifier, generate_signing_key
from tests.tokens.token_builders import NOW, verifier_for


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return generate_signing_key(now=NOW - 3600, activates_at=NOW - 3600)


@pytest.fixture(scope="session")
def verifier(key: SigningKey) -> TokenVerifier:
    return verifier_for(key)
