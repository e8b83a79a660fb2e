"""VaultSecretStore against a real OpenBao: storage layout, versions, cache, failures, TLS."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.clock import FrozenClock
from broker.errors import InvalidRequest
from broker.secrets import SecretBackendUnavailable, SecretCorrupt, SecretNotFound, SecretStore
from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.kv import VaultSecretStore
from tests.support.openbao import LeakWatch, OpenBaoServer

pytest_plugins = ["tests.support.openbao"]

VALUE = b"rlwy_VAULT_MASTER_KEY_not_for_logs_7731"
T0 = 1_800_000_000.0

MakeStore = Callable[..., VaultSecretStore]


@pytest.fixture(autouse=True)
def _no_secret_in_logs(leak_watch: LeakWatch) -> None:
    leak_watch.add(VALUE)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def make_store(
    openbao_server: OpenBaoServer, kv_mount: str, clock: FrozenClock, leak_watch: LeakWatch
) -> Iterator[MakeStore]:
    """Stores on the test's own mount with the root token, unless told otherwise."""
    made: list[VaultSecretStore] = []

    def make(server: OpenBaoServer | None = None, **changes: object) -> VaultSecretStore:
        server = server or openbao_server
        fields: dict[str, object] = {
            "addr": server.addr,
            "token": server.root_token,
            "mount": kv_mount if server is openbao_server else "secret",
            **changes,
        }
        store = VaultSecretStore(VaultConfig(**fields), clock=clock)  # type: ignore[arg-type]
        made.append(leak_watch.store(store))
        return store

    yield make
    for store in made:
        store.close()


def test_layout_is_base64_in_the_value_field(
    make_store: MakeStore, openbao_server: OpenBaoServer, kv_mount: str
) -> None:
    store = make_store()
    assert store.put("github/master", VALUE) == 1
    raw = openbao_server.root_client().secrets.kv.v2.read_secret_version(
        path="capbroker/github/master", mount_point=kv_mount, raise_on_deleted_version=True
    )
    assert raw["data"]["data"] == {"value": base64.b64encode(VALUE).decode()}


def test_configured_prefix_and_field(
    make_store: MakeStore, openbao_server: OpenBaoServer, kv_mount: str
) -> None:
    store = make_store(prefix="team/keys", value_field="k")
    store.put("a", b"\x00\xff")
    raw = openbao_server.root_client().secrets.kv.v2.read_secret_version(
        path="team/keys/a", mount_point=kv_mount, raise_on_deleted_version=True
    )
    assert raw["data"]["data"] == {"k": "AP8="}
    assert store.names() == ["a"]
    assert make_store(prefix="team").names() == ["keys/a"]


def test_empty_prefix_uses_the_whole_mount(make_store: MakeStore) -> None:
    store = make_store(prefix="")
    store.put("x/y", b"1")
    assert store.names() == ["x/y"]
    assert make_store(prefix="x").get("y") == b"1"


def test_versions(make_store: MakeStore) -> None:
    store = make_store(cache_ttl=0)
    for number in (1, 2, 3):
        assert store.put("k", f"v{number}".encode()) == number
    assert store.version("k") == 3
    assert store.get("k") == b"v3"
    assert store.get_version("k", 1) == b"v1"
    assert store.get_version("k", 2) == b"v2"
    with pytest.raises(SecretNotFound):
        store.get_version("k", 4)
    with pytest.raises(SecretNotFound):
        store.version("nothing")
    for bad in (0, -1, True):
        with pytest.raises(InvalidRequest):
            store.get_version("k", bad)


def test_dot_segments_are_distinct_names(make_store: MakeStore) -> None:
    store = make_store(cache_ttl=0)
    store.put("a/./b", b"dot")
    store.put("a/b", b"plain")
    assert store.get("a/./b") == b"dot"
    assert store.get("a/b") == b"plain"
    assert store.names() == ["a/./b", "a/b"]


def test_names_skip_what_capbroker_could_not_have_written(
    make_store: MakeStore, openbao_server: OpenBaoServer, kv_mount: str
) -> None:
    kv = openbao_server.root_client().secrets.kv.v2
    kv.create_or_update_secret(
        path="capbroker/UPPER", secret={"value": "eA=="}, mount_point=kv_mount
    )
    kv.create_or_update_secret(path="elsewhere/x", secret={"value": "eA=="}, mount_point=kv_mount)
    store = make_store()
    store.put("ok", b"v")
    assert store.names() == ["ok"]


@pytest.mark.parametrize(
    "data", [{"other": "eA=="}, {"value": "not base64!"}, {"value": 42}], ids=str
)
def test_foreign_shapes_are_corrupt(
    make_store: MakeStore, openbao_server: OpenBaoServer, kv_mount: str, data: dict[str, object]
) -> None:
    openbao_server.root_client().secrets.kv.v2.create_or_update_secret(
        path="capbroker/odd", secret=data, mount_point=kv_mount
    )
    with pytest.raises(SecretCorrupt) as caught:
        make_store().get("odd")
    assert caught.value.reason == "secret_backend_unavailable"


def test_soft_deleted_latest_version_is_not_found(
    make_store: MakeStore, openbao_server: OpenBaoServer, kv_mount: str
) -> None:
    store = make_store(cache_ttl=0)
    store.put("k", b"v1")
    store.put("k", b"v2")
    openbao_server.root_client().secrets.kv.v2.delete_latest_version_of_secret(
        path="capbroker/k", mount_point=kv_mount
    )
    with pytest.raises(SecretNotFound):
        store.get("k")
    assert store.get_version("k", 1) == b"v1"


def test_rotation_is_picked_up_after_the_cache_ttl(
    make_store: MakeStore, clock: FrozenClock
) -> None:
    reader = make_store(cache_ttl=30)
    writer = make_store()
    writer.put("github/master", b"old")
    assert reader.get("github/master") == b"old"
    writer.put("github/master", b"new")  # someone rotates the key in Vault
    clock.advance(29.9)
    assert reader.get("github/master") == b"old"
    assert reader.version("github/master") == 1
    clock.advance(0.1)
    assert reader.get("github/master") == b"new"
    assert reader.version("github/master") == 2


def test_cache_ttl_zero_reads_through(make_store: MakeStore) -> None:
    reader = make_store(cache_ttl=0)
    writer = make_store()
    writer.put("k", b"1")
    assert reader.get("k") == b"1"
    writer.put("k", b"2")
    assert reader.get("k") == b"2"


def test_own_writes_and_deletes_are_seen_at_once(make_store: MakeStore) -> None:
    store = make_store(cache_ttl=300)
    store.put("k", b"1")
    assert store.get("k") == b"1"
    store.put("k", b"2")
    assert store.get("k") == b"2"
    store.delete("k")
    with pytest.raises(SecretNotFound):
        store.get("k")


def test_missing_key(make_store: MakeStore) -> None:
    with pytest.raises(SecretNotFound) as caught:
        make_store().get("providers/none")
    assert caught.value.status == 404
    assert caught.value.reason == "not_found"
    assert caught.value.__context__ is None  # no hvac exception (URL, body) chained on


def test_missing_mount_is_unavailable_not_missing_or_empty(make_store: MakeStore) -> None:
    store = make_store(mount="no-such-mount")
    for call in (lambda: store.put("k", b"v"), lambda: store.get("k"), store.names):
        with pytest.raises(SecretBackendUnavailable) as caught:
            call()
        assert "no such mount" in caught.value.detail


def test_server_stopped_serves_cache_within_ttl_then_fails_closed(
    own_openbao_server: OpenBaoServer, make_store: MakeStore, clock: FrozenClock
) -> None:
    store = make_store(own_openbao_server, cache_ttl=30, timeout=2)
    store.put("github/master", b"old")
    own_openbao_server.root_client().secrets.kv.v2.create_or_update_secret(
        path="capbroker/github/master",
        secret={"value": base64.b64encode(VALUE).decode()},
        mount_point="secret",
    )
    clock.advance(30)  # the put's cache entry is stale: this read goes to Vault
    assert store.get("github/master") == VALUE  # cached at T0+30
    own_openbao_server.kill()
    clock.advance(29.9)
    assert store.get("github/master") == VALUE
    assert store.version("github/master") == 2
    clock.advance(0.1)
    with pytest.raises(SecretBackendUnavailable) as caught:
        store.get("github/master")
    assert caught.value.reason == "secret_backend_unavailable"
    assert caught.value.status == 503
    assert "unreachable" in caught.value.detail
    assert VALUE.decode() not in str(caught.value)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
    # The stale entry is gone, not merely hidden; nothing else works either.
    clock.advance(-10)
    with pytest.raises(SecretBackendUnavailable):
        store.get("github/master")
    for call in (lambda: store.put("x", b"v"), store.names, lambda: store.delete("x")):
        with pytest.raises(SecretBackendUnavailable):
            call()


def test_never_reached_server_fails_closed(make_store: MakeStore) -> None:
    from tests.support.servers import free_port

    store = make_store(addr=f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(SecretBackendUnavailable):
        store.get("k")


def test_sealed_vault_fails_closed(
    own_openbao_server: OpenBaoServer, make_store: MakeStore, clock: FrozenClock
) -> None:
    store = make_store(own_openbao_server, cache_ttl=30)
    store.put("github/master", VALUE)
    store.put("other", b"x")
    clock.advance(1)
    assert store.get("github/master") == VALUE
    own_openbao_server.seal()
    assert store.get("github/master") == VALUE  # still within the TTL
    clock.advance(30)
    with pytest.raises(SecretBackendUnavailable) as caught:
        store.get("github/master")
    assert "sealed" in caught.value.detail
    with pytest.raises(SecretBackendUnavailable):
        store.put("github/master", b"new")
    with pytest.raises(SecretBackendUnavailable):
        store.names()


def test_namespace_is_passed_through(openbao_server: OpenBaoServer, make_store: MakeStore) -> None:
    namespace = f"team{uuid.uuid4().hex[:8]}"
    root = openbao_server.root_client()
    root.sys.create_namespace(path=namespace)
    scoped = openbao_server.root_client()
    scoped.adapter.namespace = namespace
    scoped.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"})
    try:
        store = make_store(namespace=namespace, mount="kv")
        store.put("k", b"in the namespace")
        assert store.get("k") == b"in the namespace"
        assert f"namespace {namespace}" in store.describe()
        with pytest.raises(SecretBackendUnavailable) as caught:
            make_store(mount="kv").get("k")  # no such mount outside the namespace
        assert "no such mount" in caught.value.detail
    finally:
        scoped.sys.disable_secrets_engine(path="kv")
        root.sys.delete_namespace(path=namespace)


def test_describe_and_repr(make_store: MakeStore, openbao_server: OpenBaoServer) -> None:
    store = make_store(mount="secret", prefix="capbroker")
    assert store.describe() == (
        f"vault kv-v2 at {openbao_server.addr} mount secret prefix capbroker (auth token)"
    )
    store.put("k", VALUE)
    for text in (store.describe(), repr(store), repr(store.config), repr(store.auth_status())):
        assert openbao_server.root_token not in text
        assert VALUE.decode() not in text


def test_is_a_secret_store(make_store: MakeStore) -> None:
    assert isinstance(make_store(), SecretStore)


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_server() -> Iterator[OpenBaoServer]:
    server = OpenBaoServer.start(tls=True)
    try:
        yield server
    finally:
        server.stop()


def test_tls_with_the_ca_bundle(tls_server: OpenBaoServer, make_store: MakeStore) -> None:
    store = make_store(tls_server, ca_cert=tls_server.ca_cert)
    store.put("k", b"over tls")
    assert store.get("k") == b"over tls"


def test_tls_without_the_ca_fails_closed(tls_server: OpenBaoServer, make_store: MakeStore) -> None:
    with pytest.raises(SecretBackendUnavailable) as caught:
        make_store(tls_server).get("k")
    assert "TLS" in caught.value.detail


def test_tls_server_name_is_what_the_certificate_is_checked_against(
    tls_server: OpenBaoServer, make_store: MakeStore
) -> None:
    good = make_store(tls_server, ca_cert=tls_server.ca_cert, tls_server_name="localhost")
    good.put("k", b"v")
    assert good.get("k") == b"v"
    wrong = make_store(tls_server, ca_cert=tls_server.ca_cert, tls_server_name="wrong.example")
    with pytest.raises(SecretBackendUnavailable) as caught:
        wrong.get("k")
    assert "TLS" in caught.value.detail


# --- property ---------------------------------------------------------------------------

names = st.from_regex(r"[a-z0-9][a-z0-9._/-]{0,30}", fullmatch=True).filter(
    lambda n: not n.endswith("/") and "//" not in n and ".." not in n
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.dictionaries(names, st.binary(max_size=300), max_size=5))
def test_round_trip_property(openbao_server: OpenBaoServer, entries: dict[str, bytes]) -> None:
    # Each example gets its own prefix on the shared mount, so examples are independent.
    config = VaultConfig(
        addr=openbao_server.addr,
        token=openbao_server.root_token,
        prefix=f"prop-{uuid.uuid4().hex}",
        cache_ttl=0,
    )
    store = VaultSecretStore(config)
    try:
        # A name that is also a folder ("a" and "a/b") is fine in KV v2.
        for name, value in entries.items():
            assert store.put(name, value) == 1
        assert store.names() == sorted(entries)
        for name, value in entries.items():
            assert store.get(name) == value
    finally:
        store.close()
