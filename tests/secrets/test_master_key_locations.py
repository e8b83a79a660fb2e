"""Master keys where Vault already keeps them: a field at an operator-chosen KV v2 path,
stored with `bao kv put` (the real binary, as an operator would), read as the plain string
it stores, injected byte for byte; `secrets put|check|policy` follow the providers file."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from broker.demo.provider.server import ServerThread
from broker.demo.world import Principal, Seed
from broker.errors import BrokerError, InvalidRequest
from broker.manifests import parse_manifest
from broker.secrets.location import KeyLocation, VaultLocation, read_key, write_key
from broker.secrets.memory import MemorySecretStore
from broker.secrets.vault.kv import VaultSecretStore
from broker.secrets.vault.policy import vault_policy
from broker.settings import load_settings
from tests.support import echo_upstream
from tests.support.echo_upstream import echo_app
from tests.support.openbao import OpenBaoServer
from tests.support.processes import CAPBROKER, start_broker, start_gateway
from tests.support.servers import HOST, free_port
from tests.support.stack import ECHO_STAGING
from tests.support.world import seeded_world

pytest_plugins = ["tests.support.openbao"]
ECHO_MAP = Path(__file__).resolve().parents[1] / "support" / "echo-map.yaml"


def kv_put(server: OpenBaoServer, mount: str, path: str, **fields: str) -> None:
    """What an operator runs: `bao kv put` (values on stdin), or the KV v2 API."""
    if shutil.which("bao") is None:
        server.root_client().secrets.kv.v2.create_or_update_secret(
            path=path, secret=fields, mount_point=mount
        )
        return
    for i, (name, value) in enumerate(fields.items()):
        verb = "put" if i == 0 else "patch"
        subprocess.run(
            ["bao", "kv", verb, f"-mount={mount}", path, f"{name}=-"],
            input=value.encode(),
            env={**os.environ, "BAO_ADDR": server.addr, "BAO_TOKEN": server.root_token},
            capture_output=True,
            check=True,
            timeout=30,
        )


def capbroker(
    data: Path, *args: str, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    argv = [*CAPBROKER, "--data-dir", str(data), *args]
    return subprocess.run(
        argv, input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def gateway_token(server: OpenBaoServer, store_mount: str, key: VaultLocation) -> str:
    """A token with only the generated read-only policy: the store and the chosen path."""
    root = server.root_client()
    name = f"gw-{secrets.token_hex(4)}"
    policy = vault_policy(store_mount, "capbroker", read_only=True, master_keys=[key])
    root.sys.create_or_update_acl_policy(name=name, policy=policy)
    created = root.auth.token.create(policies=[name], ttl="1h", no_default_policy=True)
    token: str = created["auth"]["client_token"]
    return token


def test_the_gateway_injects_exactly_the_bytes_vault_kv_put_stored(
    openbao_server: OpenBaoServer, kv_mount: str, tmp_path: Path
) -> None:
    # A hex key is valid base64 too: decoded as capbroker's own layout it would become
    # other bytes. At an operator-chosen location it is taken as the plain string.
    key = secrets.token_hex(20)
    team_mount = openbao_server.new_kv_mount(f"team-{secrets.token_hex(4)}")
    kv_put(openbao_server, team_mount, "railway/prod", token=key, project="p-123")
    location = VaultLocation(mount=team_mount, path="railway/prod", field="token")

    broker_port = free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPBROKER_", "VAULT_"))}
    vault_env = {
        "VAULT_ADDR": openbao_server.addr,
        "CAPBROKER_VAULT_MOUNT": kv_mount,
        "CAPBROKER_SECRET_BACKEND": "vault",
        "CAPBROKER_PORT": str(broker_port),
    }
    broker_env = {**base_env, **vault_env, "VAULT_TOKEN": openbao_server.root_token}
    data = tmp_path / "data"
    settings = load_settings(environ={**broker_env, "CAPBROKER_DATA_DIR": str(data)})
    seed = Seed(
        manifests=[parse_manifest(ECHO_STAGING, "t#echo")],
        principals=[Principal("agent", "claude-code")],
    )
    world = seeded_world(settings, seed, environ=broker_env)
    agent = world.credential("claude-code")
    world.close()

    echo = ServerThread(echo_app).start()
    providers = tmp_path / "providers.yaml"
    providers.write_text(
        "providers:\n"
        f"  - name: echo\n    route_map: {ECHO_MAP}\n    upstream: {echo.url}\n"
        f"    master_key: {{vault: {{mount: {team_mount}, path: railway/prod, field: token}}}}\n"
    )
    gateway_env = {**broker_env, "VAULT_TOKEN": gateway_token(openbao_server, kv_mount, location)}
    log = tmp_path / "log"
    procs = []
    try:
        procs.append(start_broker(data, broker_port, log, env=broker_env))
        gw_port = free_port()
        procs.append(start_gateway(data, providers, gw_port, log, env=gateway_env))
        issued = httpx.post(
            f"http://{HOST}:{broker_port}/v1/tokens",
            headers={"Authorization": f"Bearer {agent}"},
            json={"template": "echo-staging", "environment": "staging"},
            timeout=10,
        ).json()
        answer = httpx.get(
            f"http://{HOST}:{gw_port}/echo/echo",
            headers={"Authorization": f"Bearer {issued['access_token']}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        received = echo_upstream.RECEIVED[-1]
        injected = [v for k, v in received["headers"] if k == "x-api-key"]
        assert injected == [f"Token {key}"]
        assert key not in answer.text  # the echo's copy was redacted on the way back

        check = capbroker(data, "secrets", "check", "--providers", str(providers), env=gateway_env)
        assert check.returncode == 0, check.stdout + check.stderr
        assert (
            f"echo: readable (40 bytes, version 2) from vault kv-v2 {team_mount}/railway/prod"
            " field token"
        ) in check.stdout
        assert key not in check.stdout + check.stderr
    finally:
        for proc in procs:
            proc.stop()
        echo.stop()
    assert key not in log.read_text()


def test_secrets_put_writes_the_plain_value_and_keeps_the_other_fields(
    openbao_server: OpenBaoServer, kv_mount: str, tmp_path: Path
) -> None:
    kv_put(openbao_server, kv_mount, "railway/prod", token="old", project="p-123")
    providers = tmp_path / "providers.yaml"
    providers.write_text(
        "providers:\n  - name: railway\n    route_map: railway\n"
        f"    master_key: {{vault: {{mount: {kv_mount}, path: railway/prod, field: token}}}}\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CAPBROKER_", "VAULT_"))},
        "VAULT_ADDR": openbao_server.addr,
        "VAULT_TOKEN": openbao_server.root_token,
        "CAPBROKER_SECRET_BACKEND": "vault",
        "CAPBROKER_VAULT_MOUNT": kv_mount,
    }
    where = ("--providers", str(providers))
    put = capbroker(tmp_path, "secrets", "put", "railway", *where, env=env, stdin="rw-plain-key\n")
    assert put.returncode == 0, put.stderr
    assert f"at vault kv-v2 {kv_mount}/railway/prod field token (version 3)" in put.stdout
    stored = openbao_server.root_client().secrets.kv.v2.read_secret_version(
        path="railway/prod", mount_point=kv_mount, raise_on_deleted_version=True
    )["data"]["data"]
    assert stored == {"token": "rw-plain-key", "project": "p-123"}  # as `vault kv get` shows

    policy = capbroker(tmp_path, "secrets", "policy", "--read-only", *where, env=env)
    assert policy.returncode == 0, policy.stderr
    assert f'path "{kv_mount}/data/railway/prod" {{\n  capabilities = ["read"]\n}}' in policy.stdout


def test_base64_locations_and_the_default_layout(vault_store: VaultSecretStore) -> None:
    binary = bytes(range(256))
    where = KeyLocation(
        vault=VaultLocation(vault_store.config.mount, "bin/key", "k", encoding="base64")
    )
    assert write_key(vault_store, where, binary) == 1
    assert read_key(vault_store, where) == binary
    # capbroker's own layout is unchanged: base64 under the prefix, as before
    default = KeyLocation.default("github")
    write_key(vault_store, default, b"gh-key")
    assert vault_store.get("providers/github/master-key") == b"gh-key"
    assert read_key(vault_store, default) == b"gh-key"
    text = KeyLocation(vault=VaultLocation(vault_store.config.mount, "bin/key", "missing"))
    with pytest.raises(BrokerError, match="no such field"):
        read_key(vault_store, text)
    with pytest.raises(InvalidRequest, match="not text"):
        write_key(vault_store, KeyLocation(vault=text.vault), b"\xff\xfe")


def test_a_vault_location_needs_the_vault_backend() -> None:
    where = KeyLocation(vault=VaultLocation("secret", "railway/prod", "token"))
    with pytest.raises(BrokerError, match="secret backend is not vault") as refused:
        read_key(MemorySecretStore(), where)
    assert refused.value.reason.value == "secret_backend_unavailable"


@pytest.mark.parametrize(
    "fields",
    [
        {"mount": "secret", "path": "../etc", "field": "token"},
        {"mount": "secret", "path": "a//b", "field": "token"},
        {"mount": "sec ret", "path": "a", "field": "token"},
        {"mount": "secret", "path": "a", "field": "to/ken"},
        {"mount": "secret", "path": "a", "field": "token", "encoding": "hex"},
    ],
)
def test_bad_locations_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        VaultLocation(**fields)
