"""Vault/OpenBao Transit: JWS signing with a key whose private half never leaves Vault.

``VaultTransit`` speaks to one Transit key (``<mount>/keys/<key>``, type ``ed25519``,
``ecdsa-p256`` or ``rsa-2048``/``-3072``/``-4096``: Ed25519, ES256 or RS256)
through a ``VaultSession`` (the one a ``VaultSecretStore`` on the same Vault uses: same
address, auth method, namespace, TLS, token): it reads the key's versions and public
keys, signs with one exact version, and rotates. Requests go through
``VaultSession.call``, so a 403 logs in again once and retries once, and every hvac or
requests failure becomes ``SecretBackendUnavailable`` (503 ``secret_backend_unavailable``)
with nothing of the request in it. Logs carry the operation and the Vault path; never
the signing input, the signature or a token. The policy it needs is
``broker.secrets.vault.policy.transit_policy``.

Signatures come back as ``vault:v<N>:<base64>``; the version must be the one asked for
and the signature the JWS form of its algorithm: ECDSA is asked for with
``marshaling_algorithm=jws`` (raw ``r || s``, base64url), RSA with ``pkcs1v15`` and SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from broker.errors import InvalidRequest
from broker.secrets.base import SecretBackendUnavailable
from broker.secrets.vault.session import VaultSession
from broker.tokens import ED25519, ES256, RS256, InvalidKey, PublicKey
from broker.tokens._jwa import algorithm_of, signature_length

__all__ = ["TransitKeyVersion", "VaultTransit"]

log = logging.getLogger(__name__)

_PUBLIC_BYTES: Final = 32
# Transit key types that sign JWS algorithms, and the algorithm each one signs.
KEY_TYPES: Final = {
    "ed25519": ED25519,
    "ecdsa-p256": ES256,
    "rsa-2048": RS256,
    "rsa-3072": RS256,
    "rsa-4096": RS256,
}
# The sign call's parameters that make Transit answer in the JWS form of each algorithm.
_SIGN_OPTIONS: Final[dict[str, dict[str, str]]] = {
    ED25519: {},
    ES256: {"hash_algorithm": "sha2-256", "marshaling_algorithm": "jws"},
    RS256: {"hash_algorithm": "sha2-256", "signature_algorithm": "pkcs1v15"},
}
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MOUNT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127})*")
# RFC 3339 as Vault writes it: nanoseconds, "Z" or an offset.
_TIME: Final = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", re.IGNORECASE
)


@dataclass(frozen=True)
class TransitKeyVersion:
    """One version of the Transit key, as Vault describes it."""

    version: int
    public: PublicKey = field(repr=False, compare=False)
    created_at: float  # seconds since the epoch (Vault's clock)
    can_sign: bool  # False below the key's min_encryption_version


def parse_vault_time(text: str) -> float:
    """Seconds since the epoch from Vault's RFC 3339 timestamp (nanosecond precision)."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError("not an RFC 3339 timestamp")
    whole, fraction, zone = match.groups()
    zone = "+00:00" if zone.upper() == "Z" else zone
    moment = datetime.datetime.fromisoformat(whole + zone)
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


class VaultTransit:
    """One Transit signing key, reached through a ``VaultSession``."""

    def __init__(self, session: VaultSession, *, mount: str = "transit", key: str) -> None:
        if _MOUNT.fullmatch(mount) is None:
            raise InvalidRequest("transit_mount: must be a path like 'transit'")
        if _NAME.fullmatch(key) is None:
            raise InvalidRequest("transit_key: must be a key name like 'capbroker'")
        self._session = session
        self.mount = mount
        self.key = key

    def __repr__(self) -> str:
        return (
            f"VaultTransit({self._session.config.addr!r}, mount={self.mount!r}, key={self.key!r})"
        )

    def describe(self) -> str:
        return f"vault transit {self.mount}/keys/{self.key} at {self._session.config.addr}"

    # -- reading ---------------------------------------------------------------------------

    def versions(self) -> list[TransitKeyVersion]:
        """Every version Vault still holds (from ``min_decryption_version``), oldest first."""
        path = f"{self.mount}/keys/{self.key}"
        response = self._session.call(
            "read transit key",
            path,
            lambda client: client.secrets.transit.read_key(name=self.key, mount_point=self.mount),
            missing=lambda: SecretBackendUnavailable(
                f"transit key {self.key} does not exist on mount {self.mount}: create it with "
                f"`bao write -f {self.mount}/keys/{self.key} type=ed25519` (or ecdsa-p256, "
                "rsa-2048)"
            ),
        )
        data = self._session.parse(path, lambda: response["data"])
        if data.get("type") not in KEY_TYPES or not data.get("supports_signing"):
            log.warning("transit key %s is not an ed25519, ecdsa-p256 or rsa signing key", path)
            raise SecretBackendUnavailable(
                f"transit key {self.key} on mount {self.mount} is not an ed25519, ecdsa-p256 "
                "or rsa-2048 signing key"
            )
        return self._session.parse(path, lambda: _versions(data))

    # -- signing ---------------------------------------------------------------------------

    def sign(self, signing_input: bytes, *, version: int, public: PublicKey) -> bytes:
        """The JWS signature of ``signing_input`` by key ``version`` (whose public half is
        ``public``: it names the algorithm and the signature's length)."""
        path = f"{self.mount}/sign/{self.key}"
        algorithm = algorithm_of(public)
        encoded = base64.b64encode(signing_input).decode("ascii")
        response = self._session.call(
            "sign",
            path,
            lambda client: client.secrets.transit.sign_data(
                name=self.key,
                hash_input=encoded,
                key_version=version,
                mount_point=self.mount,
                **_SIGN_OPTIONS[algorithm],
            ),
        )
        text = self._session.parse(path, lambda: str(response["data"]["signature"]))
        signature = _signature(text, f"vault:v{version}:", urlsafe=algorithm == ES256)
        if signature is None or len(signature) != signature_length(public):
            log.warning("transit %s answered with an unexpected signature format", path)
            raise SecretBackendUnavailable(
                f"transit key {self.key} on mount {self.mount} returned no {algorithm} "
                f"signature of version {version}"
            )
        return signature

    def rotate(self) -> int:
        """Add a new key version (Transit's ``rotate``); return the newest version number."""
        path = f"{self.mount}/keys/{self.key}/rotate"
        self._session.call(
            "rotate transit key",
            path,
            lambda client: client.secrets.transit.rotate_key(name=self.key, mount_point=self.mount),
        )
        return max(v.version for v in self.versions())


def _signature(text: str, prefix: str, *, urlsafe: bool) -> bytes | None:
    if not text.startswith(prefix):
        return None
    body = text[len(prefix) :]
    try:
        if urlsafe:  # the jws marshaling: base64url without padding
            return base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        return None


def _public_key(key_type: str, text: str) -> PublicKey:
    """A version's public key: raw base64 for ed25519, PEM for ecdsa and rsa."""
    if key_type == "ed25519":
        raw = base64.b64decode(text, validate=True)
        if len(raw) != _PUBLIC_BYTES:
            raise ValueError("an ed25519 public key is 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    try:
        public = load_pem_public_key(text.encode("ascii"))
    except UnsupportedAlgorithm:
        raise ValueError("not a supported public key") from None
    if not isinstance(public, PublicKey):
        raise ValueError("not a signing public key")
    try:
        if algorithm_of(public) != KEY_TYPES[key_type]:
            raise ValueError("the public key is not of the key's type")
    except InvalidKey:
        raise ValueError("the public key is not of a supported size or curve") from None
    return public


def _versions(data: Any) -> list[TransitKeyVersion]:
    floor = int(data.get("min_encryption_version") or 0)
    key_type = str(data["type"])
    found = []
    for number, entry in data["keys"].items():
        version = int(number)
        found.append(
            TransitKeyVersion(
                version=version,
                public=_public_key(key_type, str(entry["public_key"])),
                created_at=parse_vault_time(str(entry["creation_time"])),
                can_sign=version >= floor,
            )
        )
    if not found:
        raise ValueError("a transit key has at least one version")
    return sorted(found, key=lambda v: v.version)
