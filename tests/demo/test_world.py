"""The world builder (broker/demo/world.py): what a seeded deployment holds, in what order."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.audit.reader import AuditQuery, query_events
from broker.demo.world import (
    FLOOR,
    PROVIDER,
    TEMPLATE,
    Principal,
    Seed,
    build_world,
    demo_seed,
    provider_route,
)
from broker.errors import BrokerError
from broker.gateway.factory import master_key_secret_for
from broker.manifests import parse_manifest
from broker.routemap import load_route_map, shipped_map
from broker.secrets.location import KeyLocation
from broker.services.container import Services
from broker.settings import Settings
from tests.support.world import broker_settings, seeded_world

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_seed_holds_its_template_floor_key_approver_and_agent(tmp_path: Path) -> None:
    world = build_world(Settings(data_dir=tmp_path), demo_seed("rw-master-key"), writer="w")
    services = world.services
    try:
        with services.db.read() as conn:
            names = [r.template.name for r in services.templates.list_latest(conn)]
            floor, _ = services.templates.floor(conn)
            types = [
                (e["type"], e["actor"])
                for e in reversed(query_events(conn, AuditQuery(limit=20)))
                if e["type"] != "audit.chain_opened"
            ]
        assert names == [TEMPLATE["metadata"]["name"]]
        assert floor.forbidden_actions == tuple(FLOOR["spec"]["forbidden_actions"])
        assert services.secrets.get(master_key_secret_for(PROVIDER)) == b"rw-master-key"
        assert services.authenticate(world.credential("alice"), kind="admin").name == "alice"
        agent = services.authenticate(world.credential("claude-code"), kind="agent")
        assert agent.principal_id == world.principal_ids["claude-code"]
        # An operator's order: the key, the floor and template, then the principals.
        assert [t for t, _ in types][:1] == ["signing_key.created"]
        assert types[0][1] == "system:bootstrap"
        assert [t for t, _ in types][-2:] == ["admin.created", "agent.created"]
        assert {a for _, a in types[1:]} == {"admin:demo"}
    finally:
        world.close()


def test_an_empty_seed_still_makes_the_first_signing_key(tmp_path: Path) -> None:
    world = seeded_world(broker_settings(tmp_path, f"sqlite:///{tmp_path}/c.db"), Seed())
    try:
        assert world.credentials == {}
        assert world.services.keys.jwks()["keys"]
    finally:
        world.close()


def test_credentials_are_not_in_the_repr(tmp_path: Path) -> None:
    seed = Seed(principals=[Principal("agent", "claude-code")], provider_keys={"p": "k" * 20})
    world = seeded_world(broker_settings(tmp_path, f"sqlite:///{tmp_path}/c.db"), seed)
    try:
        assert world.credential("claude-code") not in repr(world)
        assert "k" * 20 not in repr(seed)
    finally:
        world.close()


def test_a_failed_seed_closes_what_it_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[Services] = []
    close = Services.close

    def recording_close(self: Services) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(Services, "close", recording_close)
    bad = Seed(manifests=[parse_manifest(TEMPLATE, "t#1")], principals=[Principal("agent", "")])
    with pytest.raises(BrokerError):
        build_world(Settings(data_dir=tmp_path), bad, writer="w")
    assert len(closed) == 1


def test_provider_route_uses_the_shipped_map_and_the_seeded_key_name() -> None:
    route = provider_route(PROVIDER, "http://127.0.0.1:1")
    assert route.route_map.name == shipped_map(PROVIDER).name == PROVIDER
    assert (route.name, route.upstream) == (PROVIDER, "http://127.0.0.1:1")
    assert route.master_key == KeyLocation(name=master_key_secret_for(PROVIDER))
    echo_map = load_route_map(ROOT / "tests" / "support" / "echo-map.yaml")
    assert provider_route("echo", "http://e", echo_map).route_map is echo_map
