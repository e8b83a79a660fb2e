"""VaultSecretStore logins against a real OpenBao: token, AppRole, Kubernetes; renewal, revocation.

The AppRole and Kubernetes roles carry only ``vault_policy(...)`` (and no ``default``
policy), so these tests also prove the documented policy is sufficient.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from broker.clock import FrozenClock
from broker.secrets import SecretBackendUnavailable
from broker.secrets.vault.config import VaultConfig
from broker.secrets.vault.kv import VaultSecretStore
from broker.secrets.vault.policy import vault_policy
from tests.support.openbao import LeakWatch, OpenBaoServer, answer_token_review, any_ca_pem

pytest_plugins = ["tests.support.openbao"]

VALUE = b"gh_master_key_for_approle_tests_5521"
T0 = 1_800_000_000.0
ROLE_TTL = 60


@pytest.fixture(autouse=True)
def _no_secret_in_logs(leak_watch: LeakWatch) -> None:
    leak_watch.add(VALUE)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def _write_secret_file(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class AppRole:
    mount: str
    role: str
    policy: str
    role_id_file: Path
    secret_id_file: Path


@pytest.fixture
def approle_factory(
    openbao_server: OpenBaoServer, kv_mount: str, tmp_path: Path, leak_watch: LeakWatch
) -> Iterator[Callable[..., AppRole]]:
    """AppRoles on a fresh auth mount whose tokens carry only the documented policy."""
    root = openbao_server.root_client()
    mount = _unique("approle")
    root.sys.enable_auth_method("approle", path=mount)
    policies: list[str] = []

    def make(*, prefix: str = "capbroker", read_only: bool = False, **role_options: Any) -> AppRole:
        policy = _unique("capbroker")
        root.sys.create_or_update_policy(
            name=policy, policy=vault_policy(kv_mount, prefix, read_only=read_only)
        )
        policies.append(policy)
        role = _unique("broker")
        options: dict[str, Any] = {
            "token_policies": [policy],
            "token_no_default_policy": True,
            "token_ttl": f"{ROLE_TTL}s",
            "token_max_ttl": f"{ROLE_TTL * 3}s",
            **role_options,
        }
        root.auth.approle.create_or_update_approle(role, mount_point=mount, **options)
        role_id = root.auth.approle.read_role_id(role, mount_point=mount)["data"]["role_id"]
        secret_id = root.auth.approle.generate_secret_id(role, mount_point=mount)["data"][
            "secret_id"
        ]
        leak_watch.add(secret_id, role_id)
        return AppRole(
            mount=mount,
            role=role,
            policy=policy,
            role_id_file=_write_secret_file(tmp_path / f"{role}.role_id", role_id),
            secret_id_file=_write_secret_file(tmp_path / f"{role}.secret_id", secret_id),
        )

    yield make
    root.sys.disable_auth_method(path=mount)
    for policy in policies:
        root.sys.delete_policy(name=policy)


@pytest.fixture
def approle_store(
    openbao_server: OpenBaoServer, kv_mount: str, clock: FrozenClock, leak_watch: LeakWatch
) -> Iterator[Callable[..., VaultSecretStore]]:
    made: list[VaultSecretStore] = []

    def make(approle: AppRole, **changes: object) -> VaultSecretStore:
        fields: dict[str, object] = {
            "addr": openbao_server.addr,
            "auth": "approle",
            "mount": kv_mount,
            "approle_mount": approle.mount,
            "role_id_file": approle.role_id_file,
            "secret_id_file": approle.secret_id_file,
            "cache_ttl": 0,
            **changes,
        }
        store = VaultSecretStore(VaultConfig(**fields), clock=clock)  # type: ignore[arg-type]
        made.append(leak_watch.store(store))
        return store

    yield make
    for store in made:
        store.close()


# --- AppRole ------------------------------------------------------------------------------------


def test_approle_with_the_documented_policy_does_everything(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
) -> None:
    store = approle_store(approle_factory())
    assert store.put("github/master", VALUE) == 1
    assert store.put("github/master", b"second") == 2
    assert store.put("railway/key", b"x") == 1
    assert store.get("github/master") == b"second"
    assert store.get_version("github/master", 1) == VALUE
    assert store.version("github/master") == 2
    assert store.names() == ["github/master", "railway/key"]
    store.delete("railway/key")
    assert store.names() == ["github/master"]
    store.check()
    status = store.auth_status()
    assert status.method == "approle"
    assert status.logged_in
    assert status.renewable
    assert status.logins == 1
    assert status.expires_at == T0 + ROLE_TTL
    assert "auth approle" in store.describe()


def test_read_only_policy_reads_but_cannot_write(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    openbao_server: OpenBaoServer,
    kv_mount: str,
) -> None:
    openbao_server.root_client().secrets.kv.v2.create_or_update_secret(
        path="capbroker/github/master",
        secret={"value": base64.b64encode(VALUE).decode()},
        mount_point=kv_mount,
    )
    store = approle_store(approle_factory(read_only=True))
    assert store.get("github/master") == VALUE
    assert store.version("github/master") == 1
    assert store.names() == ["github/master"]
    with pytest.raises(SecretBackendUnavailable) as caught:
        store.put("github/master", b"overwrite")
    assert "permission denied" in caught.value.detail


def test_policy_denies_another_prefix(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    openbao_server: OpenBaoServer,
    kv_mount: str,
) -> None:
    openbao_server.root_client().secrets.kv.v2.create_or_update_secret(
        path="production/github/master",
        secret={"value": base64.b64encode(VALUE).decode()},
        mount_point=kv_mount,
    )
    approle = approle_factory(prefix="capbroker")
    outside = approle_store(approle, prefix="production")
    for call in (
        lambda: outside.get("github/master"),
        lambda: outside.put("github/master", b"x"),
        outside.names,
    ):
        with pytest.raises(SecretBackendUnavailable) as caught:
            call()
        assert caught.value.reason == "secret_backend_unavailable"
        assert "permission denied" in caught.value.detail
        assert VALUE.decode() not in str(caught.value)
    # One re-login per refused call, then a clean failure; the right prefix still works.
    assert outside.auth_status().logins == 4
    assert approle_store(approle).names() == []


def test_revoked_token_is_replaced_by_logging_in_again(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    openbao_server: OpenBaoServer,
    leak_watch: LeakWatch,
) -> None:
    store = approle_store(approle_factory())
    store.put("k", VALUE)
    first = store.auth_status()
    leak_watch.token_of(store)
    openbao_server.root_client().auth.token.revoke_accessor(first.accessor)
    assert store.get("k") == VALUE
    second = store.auth_status()
    assert second.logins == 2
    assert second.accessor != first.accessor


def test_bad_secret_id_fails_closed(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    tmp_path: Path,
) -> None:
    approle = approle_factory()
    wrong = _write_secret_file(tmp_path / "wrong", str(uuid.uuid4()))
    store = approle_store(approle, secret_id_file=wrong)
    with pytest.raises(SecretBackendUnavailable) as caught:
        store.get("k")
    assert "login" in caught.value.detail
    missing = approle_store(approle, secret_id_file=tmp_path / "absent")
    with pytest.raises(SecretBackendUnavailable, match="cannot read the vault secret_id file"):
        missing.get("k")


def test_credential_files_are_reread_on_each_login(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    openbao_server: OpenBaoServer,
    leak_watch: LeakWatch,
) -> None:
    approle = approle_factory()
    store = approle_store(approle)
    store.put("k", b"v")
    root = openbao_server.root_client()
    fresh = root.auth.approle.generate_secret_id(approle.role, mount_point=approle.mount)["data"][
        "secret_id"
    ]
    leak_watch.add(fresh)
    old = approle.secret_id_file.read_text().strip()
    root.auth.approle.destroy_secret_id(approle.role, old, mount_point=approle.mount)
    _write_secret_file(approle.secret_id_file, fresh)  # an orchestrator rotated it
    root.auth.token.revoke_accessor(store.auth_status().accessor)
    assert store.get("k") == b"v"
    assert store.auth_status().logins == 2


def test_token_is_renewed_lazily_at_two_thirds_of_its_ttl(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    openbao_server: OpenBaoServer,
    clock: FrozenClock,
) -> None:
    store = approle_store(approle_factory())
    store.put("k", b"v")
    first = store.auth_status()
    clock.advance(ROLE_TTL * 2 / 3 - 1)
    store.get("k")
    assert store.auth_status().renewals == 0
    clock.advance(1)
    store.get("k")
    renewed = store.auth_status()
    assert renewed.renewals == 1
    assert renewed.logins == 1
    assert renewed.accessor == first.accessor
    assert renewed.expires_at == clock() + ROLE_TTL
    lookup = openbao_server.root_client().auth.token.lookup_accessor(first.accessor)
    assert lookup["data"]["last_renewal_time"]  # Vault saw the renewal


def test_expired_token_is_replaced_without_renewing(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    clock: FrozenClock,
) -> None:
    store = approle_store(approle_factory())
    store.put("k", b"v")
    clock.advance(ROLE_TTL + 1)
    assert store.get("k") == b"v"
    status = store.auth_status()
    assert status.logins == 2
    assert status.renewals == 0


def test_non_renewable_token_is_replaced_by_logging_in(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    clock: FrozenClock,
) -> None:
    store = approle_store(approle_factory(token_type="batch"))
    store.put("k", b"v")
    assert not store.auth_status().renewable
    clock.advance(ROLE_TTL * 2 / 3)
    assert store.get("k") == b"v"
    status = store.auth_status()
    assert status.logins == 2
    assert status.renewals == 0


def test_renewal_that_no_longer_extends_means_a_new_login(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = approle_store(approle_factory())
    store.put("k", b"v")
    renew_self = store.session._client.auth.token.renew_self

    def at_max_ttl() -> Any:
        # What Vault answers near the token's max TTL: only the time that is left.
        response = renew_self()
        response["auth"]["lease_duration"] = ROLE_TTL // 3
        return response

    monkeypatch.setattr(store.session._client.auth.token, "renew_self", at_max_ttl)
    clock.advance(ROLE_TTL * 2 / 3)
    assert store.get("k") == b"v"
    status = store.auth_status()
    assert status.logins == 2
    assert status.renewals == 0
    assert status.expires_at == clock() + ROLE_TTL


# --- static token -----------------------------------------------------------------------------


def test_static_token_revoked_mid_run_fails_cleanly(
    openbao_server: OpenBaoServer,
    kv_mount: str,
    clock: FrozenClock,
    leak_watch: LeakWatch,
) -> None:
    root = openbao_server.root_client()
    policy = _unique("capbroker")
    root.sys.create_or_update_policy(name=policy, policy=vault_policy(kv_mount))
    created = root.auth.token.create(policies=[policy], no_default_policy=True, ttl="1h")
    token = created["auth"]["client_token"]
    leak_watch.add(token)
    store = leak_watch.store(
        VaultSecretStore(
            VaultConfig(addr=openbao_server.addr, token=token, mount=kv_mount, cache_ttl=0),
            clock=clock,
        )
    )
    try:
        store.put("k", VALUE)
        assert store.auth_status().expires_at == pytest.approx(T0 + 3600, abs=5)
        root.auth.token.revoke(token)
        with pytest.raises(SecretBackendUnavailable) as caught:
            store.get("k")
        assert "rejected the configured token" in caught.value.detail
        assert token not in str(caught.value)
        with pytest.raises(SecretBackendUnavailable):
            store.put("k", b"again")
    finally:
        store.close()
        root.sys.delete_policy(name=policy)


def test_token_file_is_read_at_login(
    openbao_server: OpenBaoServer, kv_mount: str, tmp_path: Path, leak_watch: LeakWatch
) -> None:
    path = _write_secret_file(tmp_path / "token", openbao_server.root_token)
    store = leak_watch.store(
        VaultSecretStore(VaultConfig(addr=openbao_server.addr, token_file=path, mount=kv_mount))
    )
    store.put("k", b"v")
    assert store.get("k") == b"v"
    store.close()


# --- Kubernetes -----------------------------------------------------------------------------------

K8S_NAMESPACE = "capbroker"
K8S_ACCOUNT = "broker"
K8S_UID = "6b2f0c4e-0d7e-4d1a-9b8e-2f6a5c3d1e90"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _service_account_jwt(name: str = K8S_ACCOUNT, uid: str = K8S_UID) -> str:
    header = {"alg": "RS256", "kid": "test", "typ": "JWT"}
    claims = {
        "aud": ["https://kubernetes.default.svc"],
        # Vault checks these against its own (real) clock.
        "exp": int(time.time()) + 3600,
        "iat": int(time.time()) - 60,
        "iss": "https://kubernetes.default.svc",
        "sub": f"system:serviceaccount:{K8S_NAMESPACE}:{name}",
        "kubernetes.io": {
            "namespace": K8S_NAMESPACE,
            "serviceaccount": {"name": name, "uid": uid},
        },
    }
    parts = [json.dumps(header).encode(), json.dumps(claims).encode()]
    return ".".join(_b64url(p) for p in parts) + "." + _b64url(uuid.uuid4().bytes * 8)


class _TokenReview(BaseHTTPRequestHandler):
    """Kubernetes' TokenReview API, answering for exactly one known service-account JWT."""

    accepted: str = ""
    reviews: list[str]

    def do_POST(self) -> None:
        def username(token: str) -> str | None:
            accepted = token == self.accepted
            return f"system:serviceaccount:{K8S_NAMESPACE}:{K8S_ACCOUNT}" if accepted else None

        answer_token_review(self, username, K8S_UID)
        self.reviews.append(self.path)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line carries no token, but keep test output quiet


@dataclass
class Kubernetes:
    mount: str
    role: str
    jwt: str
    reviews: list[str]


@pytest.fixture
def kubernetes_auth(
    openbao_server: OpenBaoServer, kv_mount: str, leak_watch: LeakWatch
) -> Iterator[Kubernetes]:
    jwt = _service_account_jwt()
    leak_watch.add(jwt)
    reviews: list[str] = []
    handler = type("Review", (_TokenReview,), {"accepted": jwt, "reviews": reviews})
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    root = openbao_server.root_client()
    mount, role, policy = _unique("kubernetes"), _unique("broker"), _unique("capbroker")
    try:
        root.sys.create_or_update_policy(name=policy, policy=vault_policy(kv_mount))
        root.sys.enable_auth_method("kubernetes", path=mount)
        root.auth.kubernetes.configure(
            kubernetes_host=f"http://127.0.0.1:{http.server_address[1]}",
            kubernetes_ca_cert=any_ca_pem(),
            disable_local_ca_jwt=True,
            mount_point=mount,
        )
        root.auth.kubernetes.create_role(
            role,
            bound_service_account_names=[K8S_ACCOUNT],
            bound_service_account_namespaces=[K8S_NAMESPACE],
            policies=[policy],
            ttl=f"{ROLE_TTL}s",
            mount_point=mount,
        )
        yield Kubernetes(mount=mount, role=role, jwt=jwt, reviews=reviews)
    finally:
        http.shutdown()
        http.server_close()
        root.sys.disable_auth_method(path=mount)
        root.sys.delete_policy(name=policy)


def test_kubernetes_login_with_a_service_account_token_file(
    kubernetes_auth: Kubernetes,
    openbao_server: OpenBaoServer,
    kv_mount: str,
    tmp_path: Path,
    clock: FrozenClock,
    leak_watch: LeakWatch,
) -> None:
    jwt_file = _write_secret_file(tmp_path / "token", kubernetes_auth.jwt)
    config = VaultConfig(
        addr=openbao_server.addr,
        auth="kubernetes",
        mount=kv_mount,
        kubernetes_role=kubernetes_auth.role,
        kubernetes_jwt_file=jwt_file,
        kubernetes_mount=kubernetes_auth.mount,
    )
    store = leak_watch.store(VaultSecretStore(config, clock=clock))
    try:
        assert store.put("github/master", VALUE) == 1
        assert store.get("github/master") == VALUE
        assert store.names() == ["github/master"]
        assert kubernetes_auth.reviews == ["/apis/authentication.k8s.io/v1/tokenreviews"]
        assert store.auth_status().expires_at == T0 + ROLE_TTL
        assert "auth kubernetes" in store.describe()
    finally:
        store.close()


def test_kubernetes_login_refused_for_an_unknown_service_account(
    kubernetes_auth: Kubernetes,
    openbao_server: OpenBaoServer,
    kv_mount: str,
    tmp_path: Path,
    leak_watch: LeakWatch,
) -> None:
    stranger = _service_account_jwt(uid="00000000-0000-0000-0000-000000000000")
    leak_watch.add(stranger)
    config = VaultConfig(
        addr=openbao_server.addr,
        auth="kubernetes",
        mount=kv_mount,
        kubernetes_role=kubernetes_auth.role,
        kubernetes_jwt_file=_write_secret_file(tmp_path / "token", stranger),
        kubernetes_mount=kubernetes_auth.mount,
    )
    store = VaultSecretStore(config)
    try:
        with pytest.raises(SecretBackendUnavailable) as caught:
            store.get("github/master")
        assert stranger not in str(caught.value)
        assert "kubernetes" in caught.value.detail
    finally:
        store.close()


def test_threads_share_one_store_through_a_revocation(
    approle_factory: Callable[..., AppRole],
    approle_store: Callable[..., VaultSecretStore],
    openbao_server: OpenBaoServer,
    leak_watch: LeakWatch,
) -> None:
    store = approle_store(approle_factory())
    store.put("k", VALUE)
    leak_watch.token_of(store)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(15):
                store.put(f"w/{worker}", str(i).encode())
                assert store.get("k") == VALUE
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    openbao_server.root_client().auth.token.revoke_accessor(store.auth_status().accessor)
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert store.names() == ["k", *(f"w/{n}" for n in range(6))]
    # The first login, then exactly one more after the revocation: threads refused with the
    # revoked token find it already replaced (and names() logs in if no thread had to).
    assert store.auth_status().logins == 2
