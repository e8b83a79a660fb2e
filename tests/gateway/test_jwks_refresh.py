"""A token signed by a key rotated in after the gateway's last JWKS read: the gateway
reads the JWKS again, once, in a worker thread, so a slow broker delays only that call
and never the event loop (issue 15)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Mapping

import pytest

from broker.clock import FrozenClock
from broker.gateway.tokens import GatewayKeys, VerifiedTokens
from broker.tokens import InvalidToken, SigningKey, TokenVerifier, generate_signing_key, mint
from broker.tokens.keys import public_jwk
from tests.tokens.token_builders import AUDIENCE, ISSUER, NOW, valid_claims

SLOW_FETCH_S = 0.5


class SlowJwks:
    """The broker's JWKS, answering after ``SLOW_FETCH_S`` and counting its reads."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.reads = 0
        self.threads: set[str] = set()

    def __call__(self) -> Mapping[str, object]:
        self.reads += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(SLOW_FETCH_S)
        return {"keys": [public_jwk(k) for k in self.keys]}


def _tokens(jwks: SlowJwks) -> VerifiedTokens:
    clock = FrozenClock(NOW)
    keys = GatewayKeys(jwks, clock=clock, min_refresh=0.0)
    verifier = TokenVerifier(keys.resolve, issuer=ISSUER, audience=AUDIENCE)
    return VerifiedTokens(verifier, keys, clock=clock, leeway=0)


def test_an_unknown_kid_is_fetched_off_the_event_loop() -> None:
    old = generate_signing_key(now=NOW, activates_at=NOW)
    new = generate_signing_key(now=NOW, activates_at=NOW)
    jwks = SlowJwks(old)
    tokens = _tokens(jwks)
    token = mint(valid_claims(), new)
    jwks.keys.append(new)  # rotated in after the gateway's (not yet made) last read

    async def scenario() -> tuple[float, str]:
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.ensure_future(ticker())
        await asyncio.sleep(0.02)
        verified = await tokens.verify_async(token)
        ticking.cancel()
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        return max(gaps), verified.kid

    longest_gap, kid = asyncio.run(scenario())
    assert kid == new.kid
    assert jwks.reads == 1
    assert threading.main_thread().name not in jwks.threads
    # the loop kept ticking while the JWKS took SLOW_FETCH_S (a blocking read: one gap of it)
    assert longest_gap < SLOW_FETCH_S / 2


def test_a_kid_the_broker_does_not_publish_stays_refused() -> None:
    published = generate_signing_key(now=NOW, activates_at=NOW)
    stranger = generate_signing_key(now=NOW, activates_at=NOW)
    jwks = SlowJwks(published)
    tokens = _tokens(jwks)
    with pytest.raises(InvalidToken):
        asyncio.run(tokens.verify_async(mint(valid_claims(), stranger)))
    assert jwks.reads == 1  # read once, then refused: never a loop of reads
