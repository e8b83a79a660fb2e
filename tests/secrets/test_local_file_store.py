"""The embedded store: key file handling, tamper detection, persistence, concurrency."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from broker.secrets import (
    LocalFileStore,
    SecretBackendUnavailable,
    SecretCorrupt,
    SecretNotFound,
)
from broker.secrets.local import KEY_FILE

VALUE = b"rlwy_MASTERKEY_do_not_leak_4242"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _secret_file(directory: Path, name: str) -> Path:
    return directory / "data" / (name.replace("/", "%") + ".sec")


def test_creates_key_0600_and_directories_0700(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "store"
    LocalFileStore(directory).put("a", VALUE)
    key = directory / KEY_FILE
    assert _mode(key) == 0o600
    assert key.stat().st_size == 32
    assert _mode(directory) == 0o700
    assert _mode(directory / "data") == 0o700
    assert _mode(_secret_file(directory, "a")) == 0o600


def test_persists_across_instances_and_reuses_key(tmp_path: Path) -> None:
    LocalFileStore(tmp_path).put("github/master", VALUE)
    key = (tmp_path / KEY_FILE).read_bytes()
    again = LocalFileStore(tmp_path)
    assert again.get("github/master") == VALUE
    assert again.put("github/master", b"v2") == 2
    assert (tmp_path / KEY_FILE).read_bytes() == key
    assert LocalFileStore(tmp_path).names() == ["github/master"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_refuses_a_key_file_others_can_reach(tmp_path: Path, mode: int) -> None:
    LocalFileStore(tmp_path)
    (tmp_path / KEY_FILE).chmod(mode)
    with pytest.raises(SecretBackendUnavailable) as caught:
        LocalFileStore(tmp_path)
    assert "chmod 600" in str(caught.value)
    assert caught.value.reason == "secret_backend_unavailable"


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_refuses_a_key_file_of_the_wrong_length(tmp_path: Path, size: int) -> None:
    fd = os.open(tmp_path / KEY_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"k" * size)
    os.close(fd)
    with pytest.raises(SecretBackendUnavailable, match="expected 32"):
        LocalFileStore(tmp_path)


def test_refuses_a_symlinked_key_file(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.key"
    fd = os.open(real, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"k" * 32)
    os.close(fd)
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    (store / KEY_FILE).symlink_to(real)
    with pytest.raises(SecretBackendUnavailable):
        LocalFileStore(store)


def test_refuses_a_key_directory(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).mkdir(mode=0o700)
    with pytest.raises(SecretBackendUnavailable):
        LocalFileStore(tmp_path)


def test_unusable_directory_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(SecretBackendUnavailable):
        LocalFileStore(blocker / "store")


def test_value_is_not_in_any_stored_byte(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    store.put("github/master", VALUE)
    store.put("github/master", VALUE)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert VALUE not in data
            assert VALUE[:12] not in data


def test_each_write_uses_a_fresh_nonce(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    path = _secret_file(tmp_path, "a")
    store.put("a", VALUE)
    first = path.read_bytes()
    store.put("a", VALUE)
    second = path.read_bytes()
    assert first[12:24] != second[12:24]


def _flip(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def test_every_flipped_byte_is_detected(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    store.put("github/master", VALUE)
    path = _secret_file(tmp_path, "github/master")
    original = path.read_bytes()
    for index in range(len(original)):
        path.write_bytes(original)
        _flip(path, index)
        with pytest.raises(SecretCorrupt) as caught:
            store.get("github/master")
        assert VALUE.decode() not in str(caught.value)
        assert caught.value.status == 503


def test_truncated_or_extended_file_is_detected(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    store.put("a", VALUE)
    path = _secret_file(tmp_path, "a")
    original = path.read_bytes()
    for damaged in (b"", original[:10], original[:-1], original + b"\0"):
        path.write_bytes(damaged)
        with pytest.raises(SecretCorrupt):
            store.get("a")


def test_swapped_files_are_detected(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    store.put("prod/key", b"production master key")
    store.put("staging/key", b"staging key")
    prod, staging = _secret_file(tmp_path, "prod/key"), _secret_file(tmp_path, "staging/key")
    prod_bytes, staging_bytes = prod.read_bytes(), staging.read_bytes()
    prod.write_bytes(staging_bytes)
    staging.write_bytes(prod_bytes)
    for name in ("prod/key", "staging/key"):
        with pytest.raises(SecretCorrupt):
            store.get(name)


def test_renamed_file_is_detected(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    store.put("prod/key", VALUE)
    _secret_file(tmp_path, "prod/key").rename(_secret_file(tmp_path, "staging/key"))
    with pytest.raises(SecretCorrupt):
        store.get("staging/key")
    with pytest.raises(SecretNotFound):
        store.get("prod/key")


def test_version_field_is_authenticated(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    store.put("a", VALUE)
    _flip(_secret_file(tmp_path, "a"), 4 + 7)  # low byte of the version
    with pytest.raises(SecretCorrupt):
        store.get("a")
    # A put over a corrupt file fails closed too, rather than trusting its version.
    with pytest.raises(SecretCorrupt):
        store.put("a", b"new")


def test_another_key_cannot_read(tmp_path: Path) -> None:
    LocalFileStore(tmp_path / "one").put("a", VALUE)
    other = LocalFileStore(tmp_path / "two")
    (tmp_path / "two" / "data").rmdir()
    (tmp_path / "one" / "data").rename(tmp_path / "two" / "data")
    with pytest.raises(SecretCorrupt):
        other.get("a")


def test_names_ignore_temp_and_stray_files(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    store.put("a/b", VALUE)
    (tmp_path / "data" / ".tmp-1-abc").write_bytes(b"x")
    (tmp_path / "data" / "README").write_bytes(b"x")
    (tmp_path / "data" / "BAD NAME.sec").write_bytes(b"x")
    assert store.names() == ["a/b"]


def test_repr_shows_only_the_directory(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    store.put("a", VALUE)
    key = (tmp_path / KEY_FILE).read_bytes()
    text = repr(store)
    assert text == f"LocalFileStore({str(tmp_path)!r})"
    assert key.hex() not in text
    assert "local encrypted files" in store.describe()


WRITES = 25


def _writer(directory: str, worker: int) -> None:
    store = LocalFileStore(Path(directory))
    for i in range(WRITES):
        store.put("shared", f"worker {worker} write {i}".encode())
        store.put(f"own/{worker}", str(i).encode())


@pytest.mark.slow
def test_concurrent_writers_in_two_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), n)) for n in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    store = LocalFileStore(tmp_path)
    # Every put got its own version: none lost, none corrupted.
    assert store.put("shared", b"last") == 2 * WRITES + 1
    assert store.put("own/0", b"last") == WRITES + 1
    assert store.put("own/1", b"last") == WRITES + 1
    assert store.names() == ["own/0", "own/1", "shared"]
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".tmp")]
