"""VaultConfig from the environment, its validation, and the policy text. No server needed."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import broker
from broker.errors import InvalidRequest
from broker.secrets.vault.config import (
    DEFAULT_KUBERNETES_JWT_FILE,
    VaultConfig,
    vault_config_from_env,
)
from broker.secrets.vault.policy import VAULT_POLICY, vault_policy
from tests.support.openbao import LeakWatch

TOKEN = "hvs.CAESIconfig-test-token-value-000000"
SECRET_ID = "0d5e2c1a-secret-id-config-test"


def test_defaults_from_the_standard_variables() -> None:
    config = vault_config_from_env(
        {
            "VAULT_ADDR": "https://vault.example:8200",
            "VAULT_TOKEN": TOKEN,
            "VAULT_CACERT": "/etc/ssl/vault-ca.pem",
            "VAULT_NAMESPACE": "team",
        }
    )
    assert config == VaultConfig(
        addr="https://vault.example:8200",
        token=TOKEN,
        ca_cert=Path("/etc/ssl/vault-ca.pem"),
        namespace="team",
    )
    assert (config.auth, config.mount, config.prefix, config.value_field) == (
        "token",
        "secret",
        "capbroker",
        "value",
    )
    assert config.cache_ttl == 30
    assert config.kubernetes_jwt_file == DEFAULT_KUBERNETES_JWT_FILE


def test_capbroker_variables_win_and_overrides_win_over_both() -> None:
    config = vault_config_from_env(
        {
            "VAULT_ADDR": "http://a:8200",
            "CAPBROKER_VAULT_ADDR": "http://b:8200",
            "CAPBROKER_VAULT_AUTH": "approle",
            "CAPBROKER_VAULT_ROLE_ID_FILE": "/run/role_id",
            "CAPBROKER_VAULT_SECRET_ID_FILE": "/run/secret_id",
            "CAPBROKER_VAULT_MOUNT": "kv",
            "CAPBROKER_VAULT_PREFIX": "team/capbroker",
            "CAPBROKER_VAULT_FIELD": "key",
            "CAPBROKER_VAULT_CACHE_TTL": "10",
            "CAPBROKER_VAULT_TIMEOUT": "2.5",
            "CAPBROKER_VAULT_TLS_SERVER_NAME": "vault.internal",
        },
        {"cache_ttl": 0, "prefix": None},
    )
    assert config.addr == "http://b:8200"
    assert config.auth == "approle"
    assert config.role_id_file == Path("/run/role_id")
    assert config.secret_id_file == Path("/run/secret_id")
    assert (config.mount, config.prefix, config.value_field) == ("kv", "team/capbroker", "key")
    assert config.cache_ttl == 0
    assert config.timeout == 2.5
    assert config.tls_server_name == "vault.internal"


def test_kubernetes_settings() -> None:
    config = vault_config_from_env(
        {
            "VAULT_ADDR": "http://v:8200",
            "CAPBROKER_VAULT_AUTH": "kubernetes",
            "CAPBROKER_VAULT_KUBERNETES_ROLE": "capbroker",
            "CAPBROKER_VAULT_KUBERNETES_MOUNT": "k8s-prod",
        }
    )
    assert config.kubernetes_role == "capbroker"
    assert config.kubernetes_mount == "k8s-prod"
    assert config.kubernetes_jwt_file == DEFAULT_KUBERNETES_JWT_FILE


@pytest.mark.parametrize(
    ("environ", "overrides", "names"),
    [
        ({}, {}, "VAULT_ADDR"),
        ({"VAULT_ADDR": "vault:8200", "VAULT_TOKEN": TOKEN}, {}, "VAULT_ADDR"),
        ({"VAULT_ADDR": "http://v"}, {}, "VAULT_TOKEN or CAPBROKER_VAULT_TOKEN_FILE"),
        (
            {"VAULT_ADDR": "http://v", "CAPBROKER_VAULT_AUTH": "approle"},
            {},
            "CAPBROKER_VAULT_ROLE_ID or CAPBROKER_VAULT_ROLE_ID_FILE",
        ),
        (
            {
                "VAULT_ADDR": "http://v",
                "CAPBROKER_VAULT_AUTH": "approle",
                "CAPBROKER_VAULT_ROLE_ID": "r",
            },
            {},
            "CAPBROKER_VAULT_SECRET_ID or CAPBROKER_VAULT_SECRET_ID_FILE",
        ),
        (
            {"VAULT_ADDR": "http://v", "CAPBROKER_VAULT_AUTH": "kubernetes"},
            {},
            "CAPBROKER_VAULT_KUBERNETES_ROLE",
        ),
        ({"VAULT_ADDR": "http://v", "CAPBROKER_VAULT_AUTH": "ldap"}, {}, "CAPBROKER_VAULT_AUTH"),
        (
            {"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN, "CAPBROKER_VAULT_CACHE_TTL": "soon"},
            {},
            "CAPBROKER_VAULT_CACHE_TTL",
        ),
        (
            {"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN, "CAPBROKER_VAULT_CACHE_TTL": "-1"},
            {},
            "CAPBROKER_VAULT_CACHE_TTL",
        ),
        (
            {"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN, "CAPBROKER_VAULT_TIMEOUT": "0"},
            {},
            "CAPBROKER_VAULT_TIMEOUT",
        ),
        (
            {"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN, "CAPBROKER_VAULT_PREFIX": "a/../b"},
            {},
            "CAPBROKER_VAULT_PREFIX",
        ),
        (
            {"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN, "VAULT_CLIENT_CERT": "/c.pem"},
            {},
            "VAULT_CLIENT_CERT",
        ),
        (
            {"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN, "VAULT_SKIP_VERIFY": "true"},
            {},
            "VAULT_SKIP_VERIFY",
        ),
        ({"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN}, {"mount": ""}, "'mount'"),
        ({"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN}, {"cache_ttl": True}, "'cache_ttl'"),
        ({"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN}, {"colour": "blue"}, "'colour'"),
    ],
)
def test_errors_name_the_variable(
    environ: dict[str, str], overrides: dict[str, object], names: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        vault_config_from_env(environ, overrides)
    assert names in caught.value.detail
    assert TOKEN not in caught.value.detail
    assert caught.value.status == 400


def test_skip_verify_false_is_fine() -> None:
    config = vault_config_from_env(
        {"VAULT_ADDR": "http://v", "VAULT_TOKEN": TOKEN, "VAULT_SKIP_VERIFY": "false"}
    )
    assert config.ca_cert is None


def test_direct_construction_is_validated() -> None:
    with pytest.raises(InvalidRequest, match="token"):
        VaultConfig(addr="http://v")
    with pytest.raises(InvalidRequest, match="client_cert"):
        VaultConfig(addr="http://v", token=TOKEN, client_key=Path("/k.pem"))


def test_repr_hides_credentials() -> None:
    config = VaultConfig(
        addr="http://v", auth="approle", role_id="role-id-value-1234", secret_id=SECRET_ID
    )
    text = repr(config)
    assert SECRET_ID not in text
    assert "role-id-value-1234" not in text
    assert TOKEN not in repr(VaultConfig(addr="http://v", token=TOKEN))


def test_policy_text() -> None:
    assert vault_policy("secret", "capbroker") == VAULT_POLICY
    assert 'path "secret/data/capbroker/*"' in VAULT_POLICY
    assert 'path "secret/metadata/capbroker/*"' in VAULT_POLICY
    assert '"delete"' in VAULT_POLICY
    read_only = vault_policy("kv", "team/cb", read_only=True)
    assert 'path "kv/data/team/cb/*" {\n  capabilities = ["read"]' in read_only
    assert '"create"' not in read_only
    assert '"delete"' not in read_only
    assert 'path "kv/data/*"' in vault_policy("kv", "")


def test_leak_watch_catches_a_leak(caplog: pytest.LogCaptureFixture) -> None:
    """The guard used by every Vault test can fail: a watched string in a record is caught."""
    caplog.set_level(logging.DEBUG)
    watch = LeakWatch()
    watch.add(SECRET_ID)
    logging.getLogger("broker.secrets.vault.session").debug("oops %s", SECRET_ID)
    with pytest.raises(AssertionError, match="secrets in log records"):
        watch.check(caplog.records)
    watch2 = LeakWatch()
    watch2.add(b"value-in-base64-form")
    logging.getLogger("urllib3").debug("body dmFsdWUtaW4tYmFzZTY0LWZvcm0=")
    with pytest.raises(AssertionError):
        watch2.check(caplog.records)


def test_reading_the_configuration_does_not_import_hvac() -> None:
    """Checking CAPBROKER_VAULT_* names (``load_settings``) and building a ``VaultConfig`` are
    plain values: neither loads the Vault client (nor its HTTP stack)."""
    code = (
        "import sys\n"
        "from broker.settings import load_settings\n"
        "from broker.secrets.vault.config import vault_config_from_env\n"
        "load_settings(environ={'CAPBROKER_VAULT_MOUNT': 'kv'})\n"
        "vault_config_from_env({'VAULT_ADDR': 'http://v', 'VAULT_TOKEN': 'not-a-token'})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hvac', 'requests')))\n"
    )
    root = str(Path(broker.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=60,
    )
    assert result.stdout.strip() == "[]"
