"""HashiCorp Vault / OpenBao: the KV v2 secret store and Transit signing, through hvac.

- ``config``: ``VaultConfig`` from ``VAULT_*`` and ``CAPBROKER_VAULT_*`` (no hvac import);
- ``policy``: the minimal HCL policies for the store and for Transit signing;
- ``session``: ``VaultSession``, the authenticated connection (call and retry, token
  renewal) that KV and Transit share; ``login`` logs in by token, AppRole or
  Kubernetes; ``errors`` translates every hvac and requests failure;
- ``kv``: ``VaultSecretStore``, the ``SecretStore`` over KV v2, with its read ``cache``;
- ``transit``: ``VaultTransit``, Ed25519 signing with a Transit key.

Nothing is imported here, so that reading the configuration never loads hvac.
"""
