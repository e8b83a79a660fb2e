"""The credential format and its slow salted hash (scrypt). Pure: no storage here.

A credential reads ``capb_agt_<key id>_<secret>`` (``adm`` for admins, ``rs`` for resource
servers, which present it as their OAuth client secret): the prefix lets
secret scanners spot a leaked one, the key id finds its row without a scan.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from broker.errors import Reason, Unauthenticated

Kind = Literal["agent", "admin", "resource_server"]
_PREFIX: dict[Kind, str] = {
    "agent": "capb_agt_",
    "admin": "capb_adm_",
    "resource_server": "capb_rs_",
}
_KINDS: dict[str, Kind] = {"agt": "agent", "adm": "admin", "rs": "resource_server"}
_FORMAT = re.compile(r"capb_(agt|adm|rs)_([0-9a-f]{24})_([A-Za-z0-9_-]{43})")
# scrypt cost: ~50 ms and 16 MiB per check; the cache in auth/authenticator.py keeps it off
# the hot path. Parameters travel with each hash so they can be raised later.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class ParsedCredential:
    kind: Kind
    key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"ParsedCredential(kind={self.kind!r}, key_id={self.key_id!r}, secret=***)"


@dataclass(frozen=True)
class NewCredential:
    key_id: str
    value: str  # shown once to whoever created it, never stored

    def __repr__(self) -> str:
        return f"NewCredential(key_id={self.key_id!r}, value=***)"


def new_credential(kind: Kind) -> NewCredential:
    key_id = secrets.token_hex(12)
    return NewCredential(key_id, f"{_PREFIX[kind]}{key_id}_{secrets.token_urlsafe(32)}")


def parse_credential(value: str, *, expected: Kind | None = None) -> ParsedCredential:
    match = _FORMAT.fullmatch(value)
    if match is None:
        raise Unauthenticated("the credential is not valid", reason=Reason.CREDENTIAL_INVALID)
    kind = _KINDS[match.group(1)]
    if expected is not None and kind != expected:
        reason = Reason.ADMIN_REQUIRED if expected == "admin" else Reason.CREDENTIAL_INVALID
        raise Unauthenticated(f"an {expected} credential is required", reason=reason)
    return ParsedCredential(kind, match.group(2), match.group(3))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):  # hashlib raises TypeError for a negative or huge n, r, p
        return False
    return hmac.compare_digest(candidate, _unb64(digest))


# Verified against when the key id is unknown, so a miss costs the same as a wrong secret.
DUMMY_HASH = hash_secret("capbroker-timing-equaliser", salt=b"\x00" * 16)
