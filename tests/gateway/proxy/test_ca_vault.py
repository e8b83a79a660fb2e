"""The proxy CA in Vault (OpenBao) KV, like the signing keys: one secret, read back the
same by a second gateway, its key never in OpenBao's logs."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from broker.gateway.proxy.ca import CA_SECRET, load_or_create_ca
from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.kv import VaultSecretStore
from tests.support.openbao import LeakWatch, OpenBaoServer

pytest_plugins = ["tests.support.openbao"]
NOW = 1_800_000_000.0


def test_the_ca_lives_in_vault_kv_and_is_shared(
    openbao_server: OpenBaoServer, kv_mount: str, leak_watch: LeakWatch
) -> None:
    config = VaultConfig(addr=openbao_server.addr, token=openbao_server.root_token, mount=kv_mount)
    first_store = leak_watch.store(VaultSecretStore(config))
    ca = load_or_create_ca(first_store, lambda: NOW)
    key = ca.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    leak_watch.add(key)
    assert first_store.names() == [CA_SECRET]
    raw = openbao_server.root_client().secrets.kv.v2.read_secret_version(
        path=f"capbroker/{CA_SECRET}", mount_point=kv_mount, raise_on_deleted_version=True
    )
    assert set(raw["data"]["data"]) == {"value"}
    second = load_or_create_ca(leak_watch.store(VaultSecretStore(config)), lambda: NOW + 60)
    assert second.pem() == ca.pem()
