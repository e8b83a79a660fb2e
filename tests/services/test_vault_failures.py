"""Issuance when Vault fails, against a real OpenBao: 503 problem+json, nothing half-written.

Every failure the issue names (stopped mid-run, sealed, token revoked, permission denied,
key missing), for both signers:

- ``signer: local`` with the vault backend needs Vault when a broker process has not yet
  read a signing key's private half (a fresh replica, or a key rotated elsewhere);
- ``signer: transit`` needs Vault for every token: the Transit call fails inside the
  issuing transaction, which rolls back (group commit: the whole batch).

Each case also checks /readyz answers 503 while Vault cannot be used, and that no Vault
token, signing input or key material reached a log record.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from broker.api.app import create_app
from broker.audit.reader import verify_all
from broker.secrets import SecretBackendUnavailable
from broker.services.container import Services
from broker.services.signing import secret_name_for
from tests.support.openbao import LeakWatch, OpenBaoServer
from tests.support.vault_world import TRANSIT_KEY, World, make_world

pytest_plugins = ["tests.support.openbao", "tests.support.vault_world"]

FAILURES = ("stopped", "sealed", "revoked", "denied", "missing")
NEEDS_OWN_SERVER = {"stopped", "sealed"}


def _break(world: World, failure: str, signer: str) -> None:
    root = world.server.root_client()
    if failure == "stopped":
        world.server.kill()
    elif failure == "sealed":
        world.server.seal()
    elif failure == "revoked":
        root.auth.token.revoke(world.token)
    elif failure == "denied":
        world.set_policy(world.policy(kv=signer != "local", sign=signer != "transit"))
    elif failure == "missing" and signer == "local":
        kid = world.services.keys.signer().kid
        root.secrets.kv.v2.delete_metadata_and_all_versions(
            path=f"capbroker/{secret_name_for(kid)}", mount_point=world.kv_mount
        )
    elif failure == "missing":
        root.secrets.transit.update_key_configuration(
            TRANSIT_KEY, deletion_allowed=True, mount_point=world.transit_mount
        )
        root.secrets.transit.delete_key(TRANSIT_KEY, mount_point=world.transit_mount)
    else:  # pragma: no cover - a typo in FAILURES
        raise AssertionError(failure)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("signer", ["local", "transit"])
def test_issuance_fails_closed_when_vault_fails(
    signer: str,
    failure: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    leak_watch: LeakWatch,
) -> None:
    fixture = "own_openbao_server" if failure in NEEDS_OWN_SERVER else "openbao_server"
    server: OpenBaoServer = request.getfixturevalue(fixture)
    leak_watch.add(server.root_token)
    world = make_world(server, tmp_path, signer=signer)
    leak_watch.add(world.token, world.agent)
    first = world.issue()  # works while Vault does
    head, payload, _ = first.access_token.split(".")
    leak_watch.add(f"{head}.{payload}", payload)
    # local: a broker process that has not read the key yet; transit: the same process,
    # keyset already loaded, so the failure happens in the Transit sign call.
    services: Services = world.replica() if signer == "local" else world.services
    tokens, issued = world.tokens(), world.issued_events()

    _break(world, failure, signer)

    with TestClient(create_app(services)) as client:
        answer = client.post(
            "/v1/tokens",
            json={"template": "staging-agent", "environment": "staging"},
            headers={"Authorization": f"Bearer {world.agent}"},
        )
        ready = client.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == "secret_backend_unavailable", body
    assert world.token not in answer.text
    assert "vault:v" not in answer.text
    # Nothing half-written: no token row, no token.issued event, the audit chain intact.
    assert world.tokens() == tokens
    assert world.issued_events() == issued
    with world.services.db.read() as conn:
        assert all(report.ok for report in verify_all(conn))
    # Readiness fails while Vault cannot be used.
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    broken = {k: v for k, v in checks.items() if v != "ok"}
    assert broken, checks
    assert all(v.startswith("unavailable (") for v in broken.values()), checks
    assert "signer" in broken or "secret_backend" in broken


def test_transit_failure_fails_the_whole_group_commit_batch(
    own_openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    """Concurrent requests sharing one transaction: one Transit failure, no rows at all."""
    import asyncio

    from tests.support.vault_world import REQUEST

    world = make_world(own_openbao_server, tmp_path, signer="transit")
    leak_watch.add(world.token, world.agent)
    world.issue()
    tokens = world.tokens()
    own_openbao_server.kill()

    async def many() -> list[BaseException | object]:
        issuance, committer = world.services.issuance, world.services.committer
        return await asyncio.gather(
            *(issuance.issue_grouped(committer, world.agent, REQUEST) for _ in range(5)),
            return_exceptions=True,
        )

    outcomes = asyncio.run(many())
    assert all(getattr(o, "reason", None) == "secret_backend_unavailable" for o in outcomes)
    assert world.tokens() == tokens


def test_kv_cache_serves_within_ttl_then_fails_closed(
    own_openbao_server: OpenBaoServer, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    """Master keys through the vault backend: cached reads outlive an outage only for the TTL."""
    world = make_world(
        own_openbao_server, tmp_path, signer="local", extra_env={"CAPBROKER_VAULT_CACHE_TTL": "1"}
    )
    store = world.services.secrets
    store.put("providers/railway", b"rlwy_cached_master_key_0001")
    leak_watch.add(b"rlwy_cached_master_key_0001", world.token)
    own_openbao_server.kill()
    assert store.get("providers/railway") == b"rlwy_cached_master_key_0001"
    time.sleep(1.1)
    with pytest.raises(SecretBackendUnavailable):
        store.get("providers/railway")
