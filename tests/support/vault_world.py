"""A broker wired to a real OpenBao: KV v2 for secrets, optionally Transit for signing.

Each world gets its own KV mount, Transit mount (one ed25519 key ``capbroker``) and a
Vault token restricted to exactly the policy docs/vault.md prints (``vault_policy`` +
``transit_policy``), so every test also proves that policy is enough.

The store is seeded by the world builder (``tests.support.world``). Load with
``pytest_plugins = ["tests.support.openbao", "tests.support.vault_world"]``: that also turns on
``watch_vault_traffic`` (no Vault token, secret_id, stored value, signing input or
signature in any log record of the test). Test modules also import it directly, so it
opts out of assertion rewriting (PYTEST_DONT_REWRITE).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from broker.clock import Clock, system_clock
from broker.demo.world import Principal, Seed
from broker.domain.grants import GrantRequest
from broker.manifests import parse_manifest
from broker.secrets.vault.kv import VaultSecretStore
from broker.secrets.vault.policy import transit_policy, vault_policy
from broker.secrets.vault.session import VaultSession
from broker.secrets.vault.transit import VaultTransit
from broker.services.container import Services, build_services
from broker.services.issuance import IssuedCapability
from broker.settings import load_settings
from tests.support.factories import template_doc
from tests.support.openbao import LeakWatch, OpenBaoServer
from tests.support.world import ISSUER, seeded_world

TRANSIT_KEY = "capbroker"
TEMPLATE = template_doc(
    "staging-agent",
    actions=["project:read", "deployment:*"],
    ttl={"default": "10m", "max": "30m"},
    agents=["claude-*"],
)
REQUEST = GrantRequest(template="staging-agent", environment="staging")


@dataclass
class World:
    server: OpenBaoServer
    data_dir: Path
    kv_mount: str
    transit_mount: str
    policy_name: str
    token: str = field(repr=False)
    environ: dict[str, str] = field(repr=False)
    services: Services = field(repr=False)
    agent: str = field(repr=False)
    clock: Clock = system_clock

    def issue(self, services: Services | None = None) -> IssuedCapability:
        return (services or self.services).issuance.issue(self.agent, REQUEST)

    def replica(self) -> Services:
        """Another broker process on the same database and Vault (nothing loaded yet)."""
        return build_services(
            self.services.settings,
            clock=self.clock,
            environ=self.environ,
            writer=f"replica-{uuid.uuid4().hex[:6]}",
        )

    def count(self, sql: str) -> int:
        with self.services.db.read() as conn:
            return int(conn.execute(text(sql)).scalar_one())

    def tokens(self) -> int:
        return self.count("SELECT count(*) FROM tokens")

    def issued_events(self) -> int:
        return self.count("SELECT count(*) FROM audit_events WHERE type = 'token.issued'")

    def policy(self, *, kv: bool = True, sign: bool = True) -> str:
        """The broker's policy, optionally without KV access (token upkeep stays) or sign."""
        text_ = vault_policy(self.kv_mount)
        if not kv:
            text_ = "# token upkeep" + text_.split("# token upkeep", 1)[1]
        signing = transit_policy(self.transit_mount, TRANSIT_KEY, rotate=True)
        if not sign:
            sign_path = f'path "{self.transit_mount}/sign/{TRANSIT_KEY}"'
            signing = signing.replace(f'{sign_path} {{\n  capabilities = ["update"]\n}}\n', "")
        return text_ + signing

    def set_policy(self, policy: str) -> None:
        self.server.root_client().sys.create_or_update_acl_policy(
            name=self.policy_name, policy=policy
        )


def make_world(
    server: OpenBaoServer,
    tmp_path: Path,
    *,
    signer: str,
    clock: Clock = system_clock,
    extra_env: dict[str, str] | None = None,
    transit_key_type: str = "ed25519",
) -> World:
    root = server.root_client()
    suffix = uuid.uuid4().hex[:10]
    kv_mount = server.new_kv_mount(f"kv-{suffix}")
    transit_mount = f"transit-{suffix}"
    root.sys.enable_secrets_engine("transit", path=transit_mount)
    root.secrets.transit.create_key(
        TRANSIT_KEY, key_type=transit_key_type, mount_point=transit_mount
    )
    policy_name = f"capbroker-{suffix}"
    root.sys.create_or_update_acl_policy(
        name=policy_name,
        policy=vault_policy(kv_mount) + transit_policy(transit_mount, TRANSIT_KEY, rotate=True),
    )
    token = root.auth.token.create(policies=[policy_name], ttl="1h", no_default_policy=True)[
        "auth"
    ]["client_token"]
    environ = {
        "VAULT_ADDR": server.addr,
        "VAULT_TOKEN": token,
        "CAPBROKER_VAULT_MOUNT": kv_mount,
        **(extra_env or {}),
    }
    data_dir = tmp_path / "data"
    settings = load_settings(
        environ={
            "CAPBROKER_SECRET_BACKEND": "vault",
            "CAPBROKER_SIGNER": signer,
            "CAPBROKER_TRANSIT_MOUNT": transit_mount,
            "CAPBROKER_TRANSIT_KEY": TRANSIT_KEY,
            "CAPBROKER_DATA_DIR": str(data_dir),
            "CAPBROKER_ISSUER": ISSUER,
            **environ,
        }
    )
    seed = Seed(
        manifests=[parse_manifest(TEMPLATE, "t#1")],
        principals=[Principal("agent", "claude-code")],
    )
    seeded = seeded_world(settings, seed, clock=clock, environ=environ)
    services, agent = seeded.services, seeded.credential("claude-code")
    return World(
        server=server,
        data_dir=data_dir,
        kv_mount=kv_mount,
        transit_mount=transit_mount,
        policy_name=policy_name,
        token=token,
        environ=environ,
        services=services,
        agent=agent,
        clock=clock,
    )


# --- every secret that passes through Vault is watched in the logs --------------------------


PLUGIN = __name__


@pytest.fixture(autouse=True)
def watch_vault_traffic(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> LeakWatch | None:
    """Autouse in modules that load this plugin: every value written to KV, every Transit
    signing input and every Vault token a store logged in with must stay out of the logs
    (``leak_watch`` captures all records at DEBUG and checks them when the test ends).

    A plugin's autouse fixture applies to every test collected after it is registered, so
    tests in other modules are left alone: DEBUG capture there would record what client
    libraries log at DEBUG (oauthlib logs request bodies) for the suite's leak check."""
    if PLUGIN not in getattr(request.module, "pytest_plugins", ()):
        return None
    leak_watch: LeakWatch = request.getfixturevalue("leak_watch")
    put, sign, login = VaultSecretStore.put, VaultTransit.sign, VaultSession._login

    def watched_put(self: VaultSecretStore, name: str, value: bytes) -> int:
        leak_watch.add(value)
        return put(self, name, value)

    def watched_sign(self: VaultTransit, signing_input: bytes, **options: Any) -> bytes:
        leak_watch.add(signing_input)
        signature = sign(self, signing_input, **options)
        leak_watch.add(signature)
        return signature

    def watched_login(self: VaultSession) -> None:
        login(self)
        if self._token:  # every token a session holds comes from a login
            leak_watch.add(self._token)
        if self.config.secret_id:
            leak_watch.add(self.config.secret_id)

    monkeypatch.setattr(VaultSecretStore, "put", watched_put)
    monkeypatch.setattr(VaultTransit, "sign", watched_sign)
    monkeypatch.setattr(VaultSession, "_login", watched_login)
    return leak_watch
