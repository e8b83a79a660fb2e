"""The broker on a real OpenBao: KV v2 secret backend, local or Transit signer, end to end."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from broker.api.app import create_app
from broker.cli.main import main
from broker.clock import FrozenClock
from broker.errors import InvalidRequest
from broker.secrets.vault.kv import VaultSecretStore
from broker.services.signing import LocalSigningKeys, TransitSigningKeys, secret_name_for
from broker.settings import load_settings
from broker.tokens import NoSigningKey, keys_from_jwks, thumbprint
from tests.support.openbao import LeakWatch, OpenBaoServer
from tests.support.vault_world import ISSUER, TRANSIT_KEY, World, make_world

pytest_plugins = ["tests.support.openbao", "tests.support.vault_world"]


def _watch_token(watch: LeakWatch, world: World, token: str) -> None:
    head, payload, _ = token.split(".")
    watch.add(world.token, world.agent, f"{head}.{payload}", payload)


def _header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


def test_vault_backend_issues_end_to_end_and_writes_no_local_secrets(
    openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    world = make_world(openbao_server, tmp_path, signer="local")
    assert isinstance(world.services.secrets, VaultSecretStore)
    assert isinstance(world.services.keys, LocalSigningKeys)
    issued = world.issue()
    _watch_token(leak_watch, world, issued.access_token)
    verified = world.services.verifier.verify(issued.access_token, now=time.time())
    assert verified.jti == issued.jti
    assert world.tokens() == 1
    assert world.issued_events() == 1
    # The signing key's private half lives in Vault KV, and nothing was written locally.
    kid = world.services.keys.signer().kid
    stored = openbao_server.root_client().secrets.kv.v2.read_secret_version(
        path=f"capbroker/{secret_name_for(kid)}",
        mount_point=world.kv_mount,
        raise_on_deleted_version=True,
    )
    seed = base64.b64decode(stored["data"]["data"]["value"])
    leak_watch.add(seed)
    assert len(seed) == 32
    assert not (world.data_dir / "secrets").exists()
    assert world.data_dir.exists()
    # A second broker process (nothing cached) reads the key from Vault and signs with it.
    replica = world.replica()
    again = world.issue(replica)
    assert _header(again.access_token)["kid"] == kid
    world.services.verifier.verify(again.access_token, now=time.time())


def test_transit_signer_signs_in_vault_and_verifies_with_the_same_verifier(
    openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    world = make_world(openbao_server, tmp_path, signer="transit")
    keys = world.services.keys
    assert isinstance(keys, TransitSigningKeys)
    issued = world.issue()
    _watch_token(leak_watch, world, issued.access_token)
    public = keys_from_jwks(keys.jwks())
    transit = openbao_server.root_client().secrets.transit.read_key(
        TRANSIT_KEY, mount_point=world.transit_mount
    )
    raw = base64.b64decode(transit["data"]["keys"]["1"]["public_key"])
    (kid,) = public
    assert thumbprint(public[kid]) == kid
    assert public[kid].public_bytes_raw() == raw
    assert _header(issued.access_token) == {"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
    verified = world.services.verifier.verify(issued.access_token, now=time.time())
    assert verified.jti == issued.jti
    # No signing key was generated locally: no key rows, no KV secret, no local files.
    assert world.count("SELECT count(*) FROM signing_keys") == 0
    assert world.services.secrets.names() == []
    assert not (world.data_dir / "secrets").exists()
    # Transit's own verify agrees: the signature is Vault's.
    head, payload, sig = issued.access_token.split(".")
    answer = openbao_server.root_client().secrets.transit.verify_signed_data(
        TRANSIT_KEY,
        hash_input=base64.b64encode(f"{head}.{payload}".encode()).decode(),
        signature="vault:v1:"
        + base64.b64encode(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))).decode(),
        mount_point=world.transit_mount,
    )
    assert answer["data"]["valid"] is True


def test_transit_rotation_publishes_before_it_signs(
    openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    clock = FrozenClock(time.time())
    world = make_world(openbao_server, tmp_path, signer="transit", clock=clock)
    keys = world.services.keys
    first = world.issue()
    _watch_token(leak_watch, world, first.access_token)
    old_kid = keys.signer().kid
    new = keys.rotate(actor="test")
    assert isinstance(keys, TransitSigningKeys)
    assert keys.version_of(new.kid) == 2
    # Published at once, signing only after the propagation delay.
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old_kid, new.kid}  # type: ignore[index]
    assert keys.signer().kid == old_kid
    assert _header(world.issue().access_token)["kid"] == old_kid
    delay = world.services.settings.key_propagation_delay
    clock.advance(delay - 5)
    assert keys.keyset(force=True).signer(clock()).kid == old_kid
    clock.advance(10)
    keys.keyset(force=True)
    later = world.issue()
    _watch_token(leak_watch, world, later.access_token)
    assert _header(later.access_token)["kid"] == new.kid
    # Tokens the old version signed still verify; both verify with the one verifier.
    world.services.verifier.verify(first.access_token, now=clock())
    world.services.verifier.verify(later.access_token, now=clock())
    assert world.count("SELECT count(*) FROM audit_events WHERE type='signing_key.created'") == 1
    # The retired version leaves the JWKS once every token it signed has expired.
    clock.advance(keys.max_token_lifetime + 1)
    assert [k["kid"] for k in keys.jwks()["keys"]] == [new.kid]  # type: ignore[index]


def test_transit_versions_below_min_encryption_version_only_verify(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    clock = FrozenClock(time.time())
    world = make_world(openbao_server, tmp_path, signer="transit", clock=clock)
    root = openbao_server.root_client()
    root.secrets.transit.rotate_key(TRANSIT_KEY, mount_point=world.transit_mount)
    root.secrets.transit.update_key_configuration(
        TRANSIT_KEY, min_encryption_version=2, mount_point=world.transit_mount
    )
    keyset = world.services.keys.keyset(force=True)
    assert [k.can_sign for k in keyset.keys] == [False, True]
    # v2 is new: until it has been published for the delay there is no signer at all.
    with pytest.raises(NoSigningKey):
        world.issue()
    clock.advance(world.services.settings.key_propagation_delay + 1)
    assert world.services.keys.signer().kid == keyset.keys[1].kid
    world.issue()


def test_cli_keys_rotate_rotates_transit_and_secrets_check_reports_the_version(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    world = make_world(openbao_server, tmp_path, signer="transit")
    env = {
        **world.environ,
        "CAPBROKER_SECRET_BACKEND": "vault",
        "CAPBROKER_SIGNER": "transit",
        "CAPBROKER_TRANSIT_MOUNT": world.transit_mount,
        "CAPBROKER_DATA_DIR": str(world.data_dir),
    }
    runner = CliRunner()
    result = runner.invoke(main, ["keys", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    assert "is published now and signs in" in result.output
    transit = openbao_server.root_client().secrets.transit.read_key(
        TRANSIT_KEY, mount_point=world.transit_mount
    )
    assert transit["data"]["latest_version"] == 2
    listed = runner.invoke(main, ["keys", "list"], env=env)
    assert listed.exit_code == 0
    assert listed.output.count("\n") == 2
    assert "signing" in listed.output
    assert "pending" in listed.output
    put = runner.invoke(main, ["secrets", "put", "railway"], input="rlwy_master_v1\n", env=env)
    assert put.exit_code == 0, put.output
    runner.invoke(main, ["secrets", "put", "railway"], input="rlwy_master_v2\n", env=env)
    check = runner.invoke(main, ["secrets", "check", "railway"], env=env)
    assert check.exit_code == 0
    # It names where it read (issue 18): the default name in the configured store.
    assert check.output.strip() == (
        "railway: readable (14 bytes, version 2) from providers/railway/master-key in "
        f"vault kv-v2 at {openbao_server.addr} mount {world.kv_mount} prefix capbroker"
        " (auth token)"
    )


def test_settings_let_vault_variables_through_and_refuse_typos() -> None:
    base = {"CAPBROKER_SECRET_BACKEND": "vault", "VAULT_ADDR": "http://127.0.0.1:1"}
    settings = load_settings(environ={**base, "CAPBROKER_VAULT_MOUNT": "kv", "VAULT_TOKEN": "t"})
    assert settings.secret_backend == "vault"
    assert settings.signer == "local"
    with pytest.raises(InvalidRequest, match="CAPBROKER_VAULT_MOUNTT: unknown vault setting"):
        load_settings(environ={**base, "CAPBROKER_VAULT_MOUNTT": "kv"})
    with pytest.raises(InvalidRequest, match="signer 'transit' needs secret_backend 'vault'"):
        load_settings(environ={"CAPBROKER_SIGNER": "transit"})
    with pytest.raises(InvalidRequest, match="signer must be"):
        load_settings(environ={"CAPBROKER_SIGNER": "hsm"})


def test_vault_backend_configuration_errors_name_the_variable(tmp_path: Path) -> None:
    from broker.services.container import build_secret_store

    settings = load_settings(
        environ={"CAPBROKER_SECRET_BACKEND": "vault", "CAPBROKER_DATA_DIR": str(tmp_path)}
    )
    with pytest.raises(InvalidRequest, match="VAULT_ADDR"):
        build_secret_store(settings, {})
    with pytest.raises(InvalidRequest, match="VAULT_TOKEN"):
        build_secret_store(settings, {"VAULT_ADDR": "http://127.0.0.1:1"})


def test_readyz_reports_backend_and_signer(
    openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    world = make_world(openbao_server, tmp_path, signer="transit")
    leak_watch.add(world.token)
    with TestClient(create_app(world.services)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"] == {
        "database": "ok",
        "signing_key": "ok",
        "secret_backend": "ok",
        "signer": "ok",
    }
    assert world.services.keys.describe().startswith(
        f"vault transit {world.transit_mount}/keys/{TRANSIT_KEY}"
    )
    assert world.services.settings.effective_issuer == ISSUER
