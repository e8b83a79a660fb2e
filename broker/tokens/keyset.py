"""The signing schedule (pure): which key signs now and which keys a JWKS must publish.

Keys are ordered by ``activates_at`` (ties keep the order given). The signer is
the last key in that order that is active and can sign (holds a private key, or
reaches one in Vault Transit). A key stops signing when a later key that can
sign becomes active (its successor), whatever its algorithm;
tokens it signed live at most ``max_token_lifetime`` longer, so it stays
published until then. Keys not yet active are published early, so verifiers
hold them before the first token they sign arrives.

``max_token_lifetime`` must cover the longest token lifetime plus the
verifier's clock leeway plus how long verifiers cache the JWKS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from broker.tokens._jwa import PublicKey
from broker.tokens.errors import NoSigningKey
from broker.tokens.keys import SigningKey, public_jwk


class Keyset:
    def __init__(self, keys: Sequence[SigningKey]) -> None:
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise ValueError("a keyset must not hold the same kid twice")
        # sorted() is stable, so equal activation times keep the caller's order.
        self._keys: tuple[SigningKey, ...] = tuple(sorted(keys, key=lambda k: k.activates_at))

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        return self._keys

    def __repr__(self) -> str:
        return f"Keyset(kids={[k.kid for k in self._keys]!r})"

    def _signer_index(self, now: float) -> int | None:
        found = None
        for i, key in enumerate(self._keys):
            if key.activates_at > now:
                break
            if key.can_sign:
                found = i
        return found

    def signer(self, now: float) -> SigningKey:
        index = self._signer_index(now)
        if index is None:
            raise NoSigningKey("no signing key is active; generate or activate one")
        return self._keys[index]

    def _retired_at(self, index: int) -> float | None:
        """When the successor of key ``index`` became or becomes active (None: no successor)."""
        for later in self._keys[index + 1 :]:
            if later.can_sign:
                return later.activates_at
        return None

    def published(self, now: float, *, max_token_lifetime: float) -> list[SigningKey]:
        """Keys a JWKS must carry now: signer first, then the rest newest first."""
        signer = self._signer_index(now)
        chosen: list[SigningKey] = [] if signer is None else [self._keys[signer]]
        for i in reversed(range(len(self._keys))):
            key = self._keys[i]
            if i == signer:
                continue
            retired = self._retired_at(i)
            if (
                key.activates_at > now
                or retired is None
                or retired > now
                or now - retired < max_token_lifetime
            ):
                chosen.append(key)
        return chosen

    def jwks(self, now: float, *, max_token_lifetime: float) -> dict[str, Any]:
        keys = self.published(now, max_token_lifetime=max_token_lifetime)
        return {"keys": [public_jwk(k) for k in keys]}

    def verification_key(
        self, kid: str, now: float, *, max_token_lifetime: float
    ) -> PublicKey | None:
        for key in self.published(now, max_token_lifetime=max_token_lifetime):
            if key.kid == kid:
                return key.public
        return None
