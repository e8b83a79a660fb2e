"""docs/vault.md's policy is exactly what the code generates, and enough: an AppRole
holding only that policy runs the broker (KV, Transit signing, readiness), and nothing
beyond it is allowed."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from broker.api.app import create_app
from broker.manifests import parse_manifest
from broker.secrets import SecretBackendUnavailable
from broker.secrets.vault.kv import VaultSecretStore
from broker.secrets.vault.policy import transit_policy, vault_policy
from broker.services.container import build_services
from broker.settings import load_settings
from tests.support.openbao import LeakWatch, OpenBaoServer
from tests.support.vault_world import REQUEST, TEMPLATE, TRANSIT_KEY

pytest_plugins = ["tests.support.openbao", "tests.support.vault_world"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "vault.md"


def documented_policy() -> str:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- capbroker-policy -->\n```hcl\n(.*?)```\n<!-- /capbroker-policy -->", text, re.S
    )
    assert found, "docs/vault.md lost its policy block"
    return found.group(1)


def test_documented_policy_is_the_generated_one() -> None:
    assert documented_policy() == vault_policy() + transit_policy()


def test_an_approle_with_only_the_documented_policy_runs_the_broker(
    own_openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    server = own_openbao_server
    root = server.root_client()
    root.sys.enable_secrets_engine("transit", path="transit")
    root.secrets.transit.create_key(TRANSIT_KEY, key_type="ed25519")
    root.sys.create_or_update_acl_policy(name="capbroker", policy=documented_policy())
    root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle(
        "capbroker", token_policies=["capbroker"], token_no_default_policy=True, token_ttl="1h"
    )
    role_id = root.auth.approle.read_role_id("capbroker")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("capbroker")["data"]["secret_id"]
    leak_watch.add(secret_id)
    (tmp_path / "secret_id").write_text(secret_id)
    environ = {
        "VAULT_ADDR": server.addr,
        "CAPBROKER_VAULT_AUTH": "approle",
        "CAPBROKER_VAULT_ROLE_ID": role_id,
        "CAPBROKER_VAULT_SECRET_ID_FILE": str(tmp_path / "secret_id"),
    }
    settings = load_settings(
        environ={
            **environ,
            "CAPBROKER_SECRET_BACKEND": "vault",
            "CAPBROKER_SIGNER": "transit",
            "CAPBROKER_DATA_DIR": str(tmp_path / "data"),
        }
    )
    services = build_services(settings, environ=environ, writer="policy-test")
    agent = services.principals.create("agent", "claude-code", actor="test").credential
    services.templates.apply([parse_manifest(TEMPLATE, "t#1")], actor="test", dry_run=False)
    leak_watch.add(agent)
    # Everything the broker does: KV write/read/list/delete, Transit read and sign.
    store = services.secrets
    assert isinstance(store, VaultSecretStore)
    assert store.put("providers/railway", b"rlwy_policy_test_master_key") == 1
    assert store.get("providers/railway") == b"rlwy_policy_test_master_key"
    assert store.names() == ["providers/railway"]
    issued = services.issuance.issue(agent, REQUEST)
    services.verifier.verify(issued.access_token, now=time.time())
    with TestClient(create_app(services)) as client:
        assert client.get("/readyz").status_code == 200
    store.delete("providers/railway")
    assert store.auth_status().method == "approle"
    assert store.auth_status().logins == 1
    # Nothing more: no rotation, no other KV path, no other Transit key.
    with pytest.raises(SecretBackendUnavailable, match="permission denied"):
        services.keys.rotate(actor="test")
    other = VaultSecretStore(store.config.__class__(**{**store.config.__dict__, "prefix": "x"}))
    with pytest.raises(SecretBackendUnavailable, match="permission denied"):
        other.put("a", b"b")
    other.close()
