"""An in-memory ``SecretStore`` twin, for tests of code that only needs the protocol."""

from __future__ import annotations

import threading

from broker.secrets.base import SecretNotFound, validate_name


class MemorySecretStore:
    def __init__(self, initial: dict[str, bytes] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, bytes]] = {}
        for name, value in (initial or {}).items():
            self.put(name, value)

    def __repr__(self) -> str:
        return f"MemorySecretStore(names={len(self._values)})"

    def get(self, name: str) -> bytes:
        validate_name(name)
        with self._lock:
            if name not in self._values:
                raise SecretNotFound(f"no secret named {name}")
            return self._values[name][1]

    def put(self, name: str, value: bytes) -> int:
        validate_name(name)
        if not isinstance(value, bytes):
            raise TypeError("a secret value is bytes")
        with self._lock:
            version = self._values.get(name, (0, b""))[0] + 1
            self._values[name] = (version, value)
            return version

    def delete(self, name: str) -> None:
        validate_name(name)
        with self._lock:
            if self._values.pop(name, None) is None:
                raise SecretNotFound(f"no secret named {name}")

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._values)

    def describe(self) -> str:
        return "in-memory (not persistent)"
