"""Behaviour every SecretStore must share, run against each implementation."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.errors import InvalidRequest
from broker.secrets import (
    LocalFileStore,
    MemorySecretStore,
    SecretNotFound,
    SecretStore,
    validate_name,
)

# The OpenBao fixtures (``vault_store``) for the "vault" parameter.
pytest_plugins = ["tests.support.openbao"]

VALUE = b"ghp_SUPERSECRETVALUE_0123456789"


@pytest.fixture(params=["memory", "local", "vault"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SecretStore:
    if request.param == "memory":
        return MemorySecretStore()
    if request.param == "vault":
        vault: SecretStore = request.getfixturevalue("vault_store")
        return vault
    return LocalFileStore(tmp_path / "store")


def test_is_a_secret_store(store: SecretStore) -> None:
    assert isinstance(store, SecretStore)


def test_round_trip_and_versions(store: SecretStore) -> None:
    assert store.put("github/master", VALUE) == 1
    assert store.get("github/master") == VALUE
    assert store.put("github/master", b"second") == 2
    assert store.put("github/master", b"") == 3
    assert store.get("github/master") == b""
    assert store.put("railway.api-key", b"other") == 1


def test_names_sorted(store: SecretStore) -> None:
    for name in ("b", "a/x", "a", "z.y_z-1"):
        store.put(name, b"v")
    assert store.names() == ["a", "a/x", "b", "z.y_z-1"]


def test_delete(store: SecretStore) -> None:
    store.put("a/b", VALUE)
    store.delete("a/b")
    assert store.names() == []
    with pytest.raises(SecretNotFound):
        store.get("a/b")
    with pytest.raises(SecretNotFound):
        store.delete("a/b")
    # A re-created name starts again at version 1.
    assert store.put("a/b", b"v") == 1


def test_missing(store: SecretStore) -> None:
    with pytest.raises(SecretNotFound) as caught:
        store.get("nothing")
    assert caught.value.status == 404


def test_value_must_be_bytes(store: SecretStore) -> None:
    with pytest.raises(TypeError):
        store.put("a", "text")  # type: ignore[arg-type]


def test_describe_and_repr_hold_no_secret(store: SecretStore) -> None:
    store.put("github/master", VALUE)
    for text in (store.describe(), repr(store), str(store)):
        assert VALUE.decode() not in text
        assert text


GOOD = ["a", "0", "github/master", "a.b_c-d/e", "a/./b", "a" * 201, "x/y/z"]
BAD = [
    "",
    "A",
    "_a",
    ".a",
    "-a",
    "/a",
    "a/",
    "a//b",
    "a/../b",
    "..",
    "a..b",
    "a" * 202,
    "a b",
    "a\x00",
    "a\n",
    "a%b",
    "é",
    "a\\b",
]


@pytest.mark.parametrize("name", GOOD)
def test_good_names(store: SecretStore, name: str) -> None:
    assert validate_name(name) == name
    store.put(name, b"v")
    assert store.get(name) == b"v"


@pytest.mark.parametrize("name", BAD)
def test_bad_names(store: SecretStore, name: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_name(name)
    for call in (
        lambda: store.put(name, b"v"),
        lambda: store.get(name),
        lambda: store.delete(name),
    ):
        with pytest.raises(InvalidRequest):
            call()


names = st.from_regex(r"[a-z0-9][a-z0-9._/-]{0,30}", fullmatch=True).filter(
    lambda n: not n.endswith("/") and "//" not in n and ".." not in n
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.dictionaries(names, st.binary(max_size=300), max_size=6))
def test_round_trip_property(entries: dict[str, bytes]) -> None:
    makers: list[Callable[[Path], SecretStore]] = [
        lambda _: MemorySecretStore(),
        lambda d: LocalFileStore(d),
    ]
    for make in makers:
        with _tempdir() as directory:
            store = make(directory)
            for name, value in entries.items():
                assert store.put(name, value) == 1
            assert store.names() == sorted(entries)
            for name, value in entries.items():
                assert store.get(name) == value


@settings(max_examples=300)
@given(name=st.text(max_size=12))
def test_validate_name_property(name: str) -> None:
    try:
        validate_name(name)
    except InvalidRequest:
        return
    # Anything accepted is a safe relative path: no climbing, no empty segments.
    assert name[0].isalnum()
    assert all(part not in ("", "..") for part in name.split("/"))
    assert Path(name).parts == tuple(name.split("/"))


@contextlib.contextmanager
def _tempdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory) / "store"
