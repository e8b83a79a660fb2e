"""The credential format and its scrypt hash (broker/auth/credentials.py), pure.

Every bad shape is refused with one opaque ``Unauthenticated`` that names no part of the
value; hashes carry their parameters and verify only the secret they were made from.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.auth.credentials import (
    DUMMY_HASH,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    Kind,
    hash_secret,
    new_credential,
    parse_credential,
    verify_secret,
)
from broker.errors import Reason, Unauthenticated

KEY_ID = "0123456789abcdef01234567"  # 24 lowercase hex digits
SECRET = "A" * 21 + "_" + "b" * 20 + "-"  # 43 URL-safe base64 characters
AGENT = f"capb_agt_{KEY_ID}_{SECRET}"
ADMIN = f"capb_adm_{KEY_ID}_{SECRET}"

key_ids = st.from_regex(r"[0-9a-f]{24}", fullmatch=True)
secret_parts = st.from_regex(r"[A-Za-z0-9_-]{43}", fullmatch=True)
kinds: st.SearchStrategy[Kind] = st.sampled_from(["agent", "admin"])


# -- the format -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["agent", "admin"])
def test_new_credentials_have_the_documented_shape(kind: Kind) -> None:
    made = new_credential(kind)
    prefix = "capb_agt_" if kind == "agent" else "capb_adm_"
    assert re.fullmatch(prefix + r"[0-9a-f]{24}_[A-Za-z0-9_-]{43}", made.value)
    assert made.value.startswith(f"{prefix}{made.key_id}_")
    parsed = parse_credential(made.value)
    assert (parsed.kind, parsed.key_id) == (kind, made.key_id)
    assert made.value.endswith(parsed.secret)


def test_new_credentials_differ() -> None:
    made = [new_credential("agent") for _ in range(20)]
    assert len({m.value for m in made}) == 20
    assert len({m.key_id for m in made}) == 20


def test_parse_splits_kind_key_id_and_secret() -> None:
    agent = parse_credential(AGENT)
    assert (agent.kind, agent.key_id, agent.secret) == ("agent", KEY_ID, SECRET)
    admin = parse_credential(ADMIN, expected="admin")
    assert (admin.kind, admin.key_id, admin.secret) == ("admin", KEY_ID, SECRET)


def test_reprs_never_show_the_secret() -> None:
    made = new_credential("admin")
    secret = parse_credential(made.value).secret
    assert secret not in repr(made)
    assert made.value not in repr(made)
    assert secret not in repr(parse_credential(made.value))
    assert "***" in repr(made)
    assert "***" in repr(parse_credential(made.value))


BAD_SHAPES = {
    "empty": "",
    "prefix only": "capb_agt_",
    "unknown kind": f"capb_usr_{KEY_ID}_{SECRET}",
    "kind in capitals": f"capb_AGT_{KEY_ID}_{SECRET}",
    "no capb prefix": f"agt_{KEY_ID}_{SECRET}",
    "other product prefix": f"ghp_agt_{KEY_ID}_{SECRET}",
    "key id too short": f"capb_agt_{KEY_ID[:-1]}_{SECRET}",
    "key id too long": f"capb_agt_{KEY_ID}0_{SECRET}",
    "key id in capitals": f"capb_agt_{KEY_ID.upper()}_{SECRET}",
    "key id not hex": f"capb_agt_{'g' * 24}_{SECRET}",
    "secret too short": f"capb_agt_{KEY_ID}_{SECRET[:-1]}",
    "secret too long": f"capb_agt_{KEY_ID}_{SECRET}A",
    "secret with padding": f"capb_agt_{KEY_ID}_{SECRET[:-1]}=",
    "secret not url-safe": f"capb_agt_{KEY_ID}_{SECRET[:-1]}+",
    "secret with a slash": f"capb_agt_{KEY_ID}_{SECRET[:-1]}/",
    "missing separator": f"capb_agt_{KEY_ID}{SECRET}",
    "no secret": f"capb_agt_{KEY_ID}_",
    "leading space": f" {AGENT}",
    "trailing newline": f"{AGENT}\n",
    "bearer scheme left on": f"Bearer {AGENT}",
    "non-ascii digit in key id": f"capb_agt_{KEY_ID[:-1]}\u0661_{SECRET}",
    "non-ascii letter in secret": f"capb_agt_{KEY_ID}_{SECRET[:-1]}\u00e9",
    "two credentials": f"{AGENT}{AGENT}",
}


@pytest.mark.parametrize("value", list(BAD_SHAPES.values()), ids=list(BAD_SHAPES))
def test_every_bad_shape_is_one_opaque_refusal(value: str) -> None:
    for expected in (None, "agent", "admin"):
        with pytest.raises(Unauthenticated) as refused:
            parse_credential(value, expected=expected)  # type: ignore[arg-type]
        assert refused.value.reason == Reason.CREDENTIAL_INVALID
        assert refused.value.detail == "the credential is not valid"
        assert refused.value.status == 401


def test_an_agent_credential_where_an_admin_is_required() -> None:
    with pytest.raises(Unauthenticated) as refused:
        parse_credential(AGENT, expected="admin")
    assert refused.value.reason == Reason.ADMIN_REQUIRED
    assert SECRET not in refused.value.detail
    assert KEY_ID not in refused.value.detail


def test_an_admin_credential_where_an_agent_is_expected() -> None:
    with pytest.raises(Unauthenticated) as refused:
        parse_credential(ADMIN, expected="agent")
    assert refused.value.reason == Reason.CREDENTIAL_INVALID
    assert SECRET not in refused.value.detail


@given(kind=kinds, key_id=key_ids, secret=secret_parts)
def test_format_round_trip(kind: Kind, key_id: str, secret: str) -> None:
    prefix = "capb_agt_" if kind == "agent" else "capb_adm_"
    parsed = parse_credential(f"{prefix}{key_id}_{secret}", expected=kind)
    assert (parsed.kind, parsed.key_id, parsed.secret) == (kind, key_id, secret)


@given(kind=kinds, key_id=key_ids, secret=secret_parts, cut=st.integers(1, 60))
def test_any_truncation_is_refused(kind: Kind, key_id: str, secret: str, cut: int) -> None:
    prefix = "capb_agt_" if kind == "agent" else "capb_adm_"
    value = f"{prefix}{key_id}_{secret}"
    with pytest.raises(Unauthenticated):
        parse_credential(value[:-cut])


# -- the hash ---------------------------------------------------------------------------


def test_hash_records_scheme_parameters_salt_and_digest() -> None:
    stored = hash_secret(SECRET, salt=b"\x01" * 16)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", SCRYPT_N, SCRYPT_R, SCRYPT_P)
    assert salt == "AQEBAQEBAQEBAQEBAQEBAQ"  # 16 bytes, unpadded URL-safe base64
    assert len(digest) == 43  # 32 bytes
    assert "=" not in stored
    assert SECRET not in stored


def test_same_salt_same_hash_fresh_salt_differs() -> None:
    assert hash_secret(SECRET, salt=b"s" * 16) == hash_secret(SECRET, salt=b"s" * 16)
    assert hash_secret(SECRET) != hash_secret(SECRET)


def test_verify_accepts_the_secret_only() -> None:
    stored = hash_secret(SECRET)
    assert verify_secret(SECRET, stored)
    assert not verify_secret(SECRET[:-1], stored)
    assert not verify_secret(SECRET + "A", stored)
    assert not verify_secret(SECRET.lower(), stored)
    assert not verify_secret("", stored)


def test_the_dummy_hash_is_a_real_hash_that_matches_no_credential() -> None:
    assert DUMMY_HASH.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")
    assert verify_secret("capbroker-timing-equaliser", DUMMY_HASH)
    assert not verify_secret(parse_credential(new_credential("agent").value).secret, DUMMY_HASH)


def _with(stored: str, index: int, value: str) -> str:
    parts = stored.split("$")
    parts[index] = value
    return "$".join(parts)


GOOD = hash_secret(SECRET, salt=b"\x02" * 16)
BAD_HASHES = {
    "empty": "",
    "no separators": "scrypt",
    "too few fields": GOOD.rsplit("$", 1)[0],
    "too many fields": GOOD + "$x",
    "another scheme": _with(GOOD, 0, "bcrypt"),
    "scheme in capitals": _with(GOOD, 0, "SCRYPT"),
    "n not a number": _with(GOOD, 1, "many"),
    "n not a power of two": _with(GOOD, 1, "1000"),
    "n of one": _with(GOOD, 1, "1"),
    "negative n": _with(GOOD, 1, "-16384"),
    "n beyond 64 bits": _with(GOOD, 1, str(2**70)),
    "r not a number": _with(GOOD, 2, "eight"),
    "r of zero": _with(GOOD, 2, "0"),
    "negative r": _with(GOOD, 2, "-8"),
    "p not a number": _with(GOOD, 3, ""),
    "p of zero": _with(GOOD, 3, "0"),
    "negative p": _with(GOOD, 3, "-1"),
    "other parameters": _with(GOOD, 1, str(SCRYPT_N // 2)),
    "salt not base64": _with(GOOD, 4, "!!!!"),
    "salt not ascii": _with(GOOD, 4, "\u00e9\u00e9\u00e9\u00e9"),
    "other salt": _with(GOOD, 4, "AwMDAwMDAwMDAwMDAwMDAw"),
    "digest not base64": _with(GOOD, 5, "*" * 43),
    "digest truncated": _with(GOOD, 5, GOOD.rsplit("$", 1)[1][:-4]),
    "digest empty": _with(GOOD, 5, ""),
    "digest of another secret": _with(GOOD, 5, hash_secret("x", salt=b"\x02" * 16)[-43:]),
}


@pytest.mark.parametrize("stored", list(BAD_HASHES.values()), ids=list(BAD_HASHES))
def test_a_malformed_or_foreign_hash_verifies_nothing(stored: str) -> None:
    assert verify_secret(SECRET, GOOD)  # the unaltered hash does
    assert verify_secret(SECRET, stored) is False


@settings(max_examples=10, deadline=None)  # each example costs two scrypt runs (~50 ms)
@given(secret=st.text(max_size=64), other=st.text(max_size=64))
def test_hash_round_trip(secret: str, other: str) -> None:
    stored = hash_secret(secret)
    assert verify_secret(secret, stored)
    assert verify_secret(other, stored) is (other == secret)
