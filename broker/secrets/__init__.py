"""Secret backends behind one protocol: the embedded local file store and an in-memory twin."""

from broker.secrets.base import (
    SecretBackendUnavailable,
    SecretCorrupt,
    SecretNotFound,
    SecretStore,
    validate_name,
)
from broker.secrets.local import LocalFileStore
from broker.secrets.memory import MemorySecretStore

__all__ = [
    "LocalFileStore",
    "MemorySecretStore",
    "SecretBackendUnavailable",
    "SecretCorrupt",
    "SecretNotFound",
    "SecretStore",
    "validate_name",
]
