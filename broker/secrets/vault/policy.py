"""The minimal Vault policies (HCL) capbroker needs: KV v2 for the store, Transit for signing.

An operator writes these with ``vault policy write``; a test
(``tests/services/test_vault_policy.py``) checks that the broker works with nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from broker.secrets.location import VaultLocation

__all__ = ["VAULT_POLICY", "transit_policy", "vault_policy"]


def vault_policy(
    mount: str = "secret",
    prefix: str = "capbroker",
    *,
    read_only: bool = False,
    master_keys: Iterable[VaultLocation] = (),
) -> str:
    """The minimal Vault policy (HCL) the store needs for ``mount`` and ``prefix``.

    The full policy serves the broker (``get``/``put``/``delete``/``names``); the
    read-only one serves a gateway that only reads master keys. Both allow the token
    to look itself up and renew itself (also granted by Vault's ``default`` policy,
    listed so that roles created with ``token_no_default_policy`` still work).

    ``master_keys``: the operator-chosen locations of the providers file
    (``master_key.vault``); each secret's exact data path is added, read-only for a
    gateway, readable and writable (``secrets put`` reads, merges, writes) otherwise.
    """
    base = f"{mount}/data/{prefix}/" if prefix else f"{mount}/data/"
    meta = f"{mount}/metadata/{prefix}/" if prefix else f"{mount}/metadata/"
    if read_only:
        data_caps, meta_caps = '["read"]', '["list"]'
    else:
        data_caps, meta_caps = '["create", "read", "update"]', '["read", "list", "delete"]'
    keys = '["read"]' if read_only else '["create", "read", "update"]'
    chosen = "".join(
        f"# master key at {where.describe()}\n"
        f'path "{where.mount}/data/{where.path}" {{\n  capabilities = {keys}\n}}\n'
        for where in sorted(set(master_keys), key=lambda w: (w.mount, w.path, w.field))
    )
    return (
        f"# capbroker secret store: values under {mount}/{prefix or ''} (KV v2)\n"
        f'path "{base}*" {{\n  capabilities = {data_caps}\n}}\n'
        f'path "{meta}*" {{\n  capabilities = {meta_caps}\n}}\n'
        f"{chosen}"
        "# token upkeep\n"
        'path "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n'
        'path "auth/token/renew-self" {\n  capabilities = ["update"]\n}\n'
    )


VAULT_POLICY: Final = vault_policy()


def transit_policy(mount: str = "transit", key: str = "capbroker", *, rotate: bool = False) -> str:
    """The Vault policy (HCL) for signing with ``key``: read its public keys, sign.

    ``rotate=True`` adds ``<mount>/keys/<key>/rotate`` for whoever runs
    ``capbroker keys rotate``; the serving broker does not need it.
    """
    text = (
        f"# capbroker token signing: Transit key {key} on {mount}\n"
        f'path "{mount}/keys/{key}" {{\n  capabilities = ["read"]\n}}\n'
        f'path "{mount}/sign/{key}" {{\n  capabilities = ["update"]\n}}\n'
    )
    if rotate:
        text += f'path "{mount}/keys/{key}/rotate" {{\n  capabilities = ["update"]\n}}\n'
    return text
