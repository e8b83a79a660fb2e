"""The embedded default backend: AES-256-GCM files under one directory, no server needed.

Layout: ``secrets.key`` (32 random bytes, mode 0600), ``.lock`` (serialises
writers across processes), ``data/<name>.sec`` (one file per secret, ``/`` in
the name stored as ``%``). A file is ``MAGIC | version (8 bytes) | nonce (12) |
ciphertext+tag``; the AAD binds the name and the version, so a file renamed,
swapped onto another name or edited in its version field fails authentication.
Not detected: replacing a file with an older genuine file of the same name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.errors import InvalidRequest
from broker.secrets.base import (
    SecretBackendUnavailable,
    SecretCorrupt,
    SecretNotFound,
    validate_name,
)

KEY_FILE = "secrets.key"
KEY_BYTES = 32
_MAGIC = b"CBS1"
_VERSION_BYTES = 8
_NONCE_BYTES = 12
_HEADER_BYTES = len(_MAGIC) + _VERSION_BYTES + _NONCE_BYTES
_SUFFIX = ".sec"
_AAD_PREFIX = b"capbroker/local-secret/v1\x00"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _aad(name: str, version: int) -> bytes:
    return _AAD_PREFIX + name.encode("ascii") + b"\x00" + version.to_bytes(_VERSION_BYTES, "big")


class LocalFileStore:
    """A ``SecretStore`` on local disk. Safe for concurrent writers in several processes."""

    def __init__(self, directory: Path) -> None:
        self._directory = Path(directory)
        self._data = self._directory / "data"
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._data.mkdir(mode=0o700, exist_ok=True)
            with self._locked():
                key = self._load_or_create_key()
        except OSError as exc:
            raise self._unavailable(exc) from None
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return f"LocalFileStore({str(self._directory)!r})"

    def describe(self) -> str:
        return f"local encrypted files at {self._directory}"

    # -- key file -------------------------------------------------------------

    def _load_or_create_key(self) -> bytes:
        path = self._directory / KEY_FILE
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return self._create_key(path)
        try:
            info = os.fstat(fd)
            self._check_key_file(path, info)
            key = os.read(fd, KEY_BYTES + 1)
        finally:
            os.close(fd)
        if len(key) != KEY_BYTES:
            raise SecretBackendUnavailable(
                f"key file {path} holds {len(key)} bytes, expected {KEY_BYTES}; refusing to start"
            )
        return key

    @staticmethod
    def _check_key_file(path: Path, info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise SecretBackendUnavailable(f"key file {path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise SecretBackendUnavailable(f"key file {path} is owned by another user")
        if info.st_mode & 0o077:
            mode = oct(stat.S_IMODE(info.st_mode))
            raise SecretBackendUnavailable(
                f"key file {path} is accessible by group or others (mode {mode}); "
                f"run chmod 600 {path}"
            )

    def _create_key(self, path: Path) -> bytes:
        key = os.urandom(KEY_BYTES)
        # O_EXCL: never overwrite a key another process just made (we also hold the lock).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            _write_all(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self._directory)
        return key

    # -- helpers ----------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock is per open file description, so this excludes other threads too.
        fd = os.open(self._directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _path(self, name: str) -> Path:
        return self._data / (validate_name(name).replace("/", "%") + _SUFFIX)

    def _unavailable(self, exc: OSError) -> SecretBackendUnavailable:
        return SecretBackendUnavailable(
            f"local secret store at {self._directory} failed: {exc.strerror or type(exc).__name__}"
        )

    def _read(self, name: str) -> tuple[int, bytes]:
        path = self._path(name)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise SecretNotFound(f"no secret named {name}") from None
        except OSError as exc:
            raise self._unavailable(exc) from None
        if len(blob) < _HEADER_BYTES or not blob.startswith(_MAGIC):
            raise SecretCorrupt(f"stored secret {name} is damaged")
        version = int.from_bytes(blob[len(_MAGIC) : len(_MAGIC) + _VERSION_BYTES], "big")
        nonce = blob[_HEADER_BYTES - _NONCE_BYTES : _HEADER_BYTES]
        try:
            value = self._aead.decrypt(nonce, blob[_HEADER_BYTES:], _aad(name, version))
        except InvalidTag:
            raise SecretCorrupt(f"stored secret {name} failed authentication") from None
        return version, value

    def _write(self, name: str, version: int, value: bytes) -> None:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value, _aad(name, version))
        blob = _MAGIC + version.to_bytes(_VERSION_BYTES, "big") + nonce + sealed
        temp = self._data / f".tmp-{os.getpid()}-{os.urandom(6).hex()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            try:
                _write_all(fd, blob)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self._path(name))
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(self._data)

    # -- SecretStore --------------------------------------------------------------

    def get(self, name: str) -> bytes:
        return self._read(name)[1]

    def put(self, name: str, value: bytes) -> int:
        self._path(name)  # validate before taking the lock
        if not isinstance(value, bytes):
            raise TypeError("a secret value is bytes")
        try:
            with self._locked():
                try:
                    version = self._read(name)[0] + 1
                except SecretNotFound:
                    version = 1
                self._write(name, version, value)
        except OSError as exc:
            raise self._unavailable(exc) from None
        return version

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            with self._locked():
                path.unlink()
                _fsync_dir(self._data)
        except FileNotFoundError:
            raise SecretNotFound(f"no secret named {name}") from None
        except OSError as exc:
            raise self._unavailable(exc) from None

    def names(self) -> list[str]:
        try:
            files = os.listdir(self._data)
        except OSError as exc:
            raise self._unavailable(exc) from None
        found = []
        for file in files:
            if not file.endswith(_SUFFIX) or file.startswith("."):
                continue  # temp files of an interrupted write, or strangers
            name = file[: -len(_SUFFIX)].replace("%", "/")
            with contextlib.suppress(InvalidRequest):
                found.append(validate_name(name))
        return sorted(found)
