"""The proxy CA: made once, kept in the secret backend only, leaf certificates short-lived,
for exactly one host, cached and renewed; ``capbroker gateway ca`` prints it."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from broker.errors import InvalidRequest, Unavailable
from broker.gateway.proxy.ca import (
    CA_SECRET,
    LEAF_VALIDITY,
    LeafCache,
    issue_leaf,
    load_or_create_ca,
    load_ring,
    new_ca,
    rotate_ca,
)
from broker.secrets.local import LocalFileStore
from broker.secrets.memory import MemorySecretStore
from tests.cli.cli_support import runner_on

NOW = 1_800_000_000.0


def test_the_ca_is_made_once_and_kept_encrypted_in_the_local_store(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "secrets")
    first = load_or_create_ca(store, lambda: NOW)
    again = load_or_create_ca(LocalFileStore(tmp_path / "secrets"), lambda: NOW + 60)
    assert again.pem() == first.pem()
    assert store.names() == [CA_SECRET]
    key = first.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for path in tmp_path.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            assert b"PRIVATE KEY" not in raw, path
            assert key[-32:] not in raw, path


def test_a_leaf_names_exactly_its_host_and_lives_a_day(tmp_path: Path) -> None:
    ca = load_or_create_ca(MemorySecretStore(), lambda: NOW)
    leaf, _ = issue_leaf(ca, "backboard.railway.com", lambda: NOW)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["backboard.railway.com"]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer == ca.certificate.subject
    ca.certificate.public_key().verify(  # type: ignore[union-attr]
        leaf.signature, leaf.tbs_certificate_bytes, *_ecdsa(leaf)
    )
    expires = datetime.datetime.fromtimestamp(NOW, tz=datetime.UTC) + LEAF_VALIDITY
    assert leaf.not_valid_after_utc == expires.replace(microsecond=0)


def _ecdsa(leaf: x509.Certificate) -> tuple[object]:
    from cryptography.hazmat.primitives.asymmetric import ec

    assert leaf.signature_hash_algorithm is not None
    return (ec.ECDSA(leaf.signature_hash_algorithm),)


def test_leaf_contexts_are_cached_and_renewed_before_they_expire() -> None:
    now = [NOW]
    cache = LeafCache(load_or_create_ca(MemorySecretStore(), lambda: NOW), lambda: now[0])
    first = cache.context_for("api.github.com")
    assert cache.context_for("api.github.com") is first
    assert cache.context_for("backboard.railway.com") is not first
    now[0] += LEAF_VALIDITY.total_seconds() - 1800  # half an hour left: renewed
    assert cache.context_for("api.github.com") is not first


def test_gateway_ca_prints_the_stored_ca(tmp_path: Path) -> None:
    run = runner_on(tmp_path)
    printed = run("gateway", "ca")
    assert printed.exit_code == 0, printed.output
    assert printed.output.startswith("-----BEGIN CERTIFICATE-----")
    assert run("gateway", "ca").output == printed.output
    stored = load_or_create_ca(LocalFileStore(tmp_path / "secrets"), lambda: NOW)
    assert stored.pem() == printed.output
    assert "PRIVATE" not in printed.output


def test_gateway_serve_refuses_a_proxy_port_it_cannot_serve(tmp_path: Path) -> None:
    providers = tmp_path / "providers.yaml"
    providers.write_text("providers:\n  - {name: github, route_map: github}\n")
    run = runner_on(tmp_path / "data")
    no_hosts = run("gateway", "serve", "--providers", str(providers), "--proxy-port", "0")
    assert no_hosts.exit_code != 0
    assert "no provider in the providers file names hosts" in no_hosts.output
    providers.write_text(
        "providers:\n  - {name: github, route_map: github, hosts: [api.github.com]}\n"
    )
    workers = run(
        "gateway", "serve", "--providers", str(providers), "--proxy-port", "0", "--workers", "2"
    )
    assert workers.exit_code != 0
    assert "--proxy-port runs in one worker" in workers.output


def test_the_ca_rotates_in_two_steps_like_the_signing_keys(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "secrets")
    first = load_ring(store, lambda: NOW)
    with pytest.raises(InvalidRequest, match="no next CA"):
        rotate_ca(store, lambda: NOW, promote=True)
    prepared = rotate_ca(store, lambda: NOW + 10, promote=False)
    # published before it signs: the current one still signs, both are trusted
    assert prepared.current.pem() == first.current.pem()
    assert prepared.next is not None
    assert prepared.trusted(NOW + 10) == [first.current.certificate, prepared.next.certificate]
    with pytest.raises(InvalidRequest, match="already published"):
        rotate_ca(store, lambda: NOW + 20, promote=False)
    promoted = rotate_ca(store, lambda: NOW + 100, promote=True)
    assert promoted.current.pem() == prepared.next.pem()
    assert load_or_create_ca(store, lambda: NOW + 100).pem() == prepared.next.pem()
    # the retired CA stays trusted while leaves it signed may live, then leaves the bundle
    day = LEAF_VALIDITY.total_seconds()
    assert first.current.certificate in promoted.trusted(NOW + 100 + day - 1)
    assert promoted.trusted(NOW + 100 + day) == [promoted.current.certificate]
    # and the keys are still never in the clear on disk
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_a_ca_stored_in_the_first_format_still_loads() -> None:
    store = MemorySecretStore()
    ca = new_ca(lambda: NOW)
    key = ca.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    store.put(CA_SECRET, ca.pem().encode() + key)
    assert load_or_create_ca(store, lambda: NOW).pem() == ca.pem()


def test_a_ca_whose_key_is_not_its_own_is_refused() -> None:
    store = MemorySecretStore()
    one, other = new_ca(lambda: NOW), new_ca(lambda: NOW)
    key = other.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    store.put(CA_SECRET, one.pem().encode() + key)
    with pytest.raises(Unavailable):
        load_or_create_ca(store, lambda: NOW)


def test_gateway_ca_rotation_from_the_cli(tmp_path: Path) -> None:
    run = runner_on(tmp_path)
    before = run("gateway", "ca").output
    prepared = run("gateway", "ca", "--prepare-next")
    assert prepared.exit_code == 0, prepared.output
    bundle = x509.load_pem_x509_certificates(prepared.output.split("\n", 1)[1].encode())
    assert len(bundle) == 2
    assert run("gateway", "ca", "--prepare-next").exit_code == 2  # one next at a time
    promoted = run("gateway", "ca", "--promote-next")
    assert promoted.exit_code == 0, promoted.output
    after = run("gateway", "ca").output
    assert after != before
    assert len(x509.load_pem_x509_certificates(after.encode())) == 2  # new, and the retired
    assert after.startswith(bundle[1].public_bytes(serialization.Encoding.PEM).decode())
    assert "PRIVATE" not in after
