"""capbroker's proxy CA and the leaf certificates it issues per host.

The CA is made once and kept as one secret (certificates and private keys together, so a
race between two creators can never pair one's key with the other's certificate) in the
secret backend, like the signing keys: the local encrypted store or Vault, never a file in
the clear. It rotates like the signing keys (``CARing``): a next CA is published before
it signs, a retired one stays trusted until its leaves have expired. Leaf certificates
are short-lived, issued per host on first use and kept in memory only, as ready
``ssl.SSLContext`` objects.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.clock import Clock
from broker.errors import InvalidRequest, Reason, Unavailable
from broker.secrets.base import SecretNotFound, SecretStore

CA_SECRET = "gateway/proxy-ca"
CA_VALIDITY = datetime.timedelta(days=365)
LEAF_VALIDITY = datetime.timedelta(hours=24)
# A leaf is re-issued when less than this is left, so no handshake meets an expired one.
LEAF_RENEW_BEFORE = datetime.timedelta(hours=1)
# Clocks on agents' machines drift; a certificate valid from a little earlier tolerates it.
BACKDATE = datetime.timedelta(minutes=5)
ALPN = ["http/1.1"]  # what the tunnel really speaks: HTTP/2 clients fall back


@dataclass(frozen=True)
class ProxyCA:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)

    def pem(self) -> str:
        """The CA certificate, for agents' trust stores."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _utc(clock: Clock) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(clock(), tz=datetime.UTC)


def new_ca(clock: Clock) -> ProxyCA:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "capbroker gateway proxy CA")])
    now = _utc(clock)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return ProxyCA(certificate, key)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # the secret backend encrypts it (local store, Vault)
    ).decode("ascii")


def _cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class CARing:
    """The CAs of one gateway fleet, ordered as signing keys are: ``current`` signs
    leaves; ``next`` is published (trusted) before it signs; ``retired`` ones (certificate,
    when retired) stay trusted until every leaf they signed has expired."""

    current: ProxyCA
    next: ProxyCA | None = None
    retired: tuple[tuple[x509.Certificate, float], ...] = ()

    def trusted(self, now: float) -> list[x509.Certificate]:
        kept = [c for c, at in self.retired if now - at < LEAF_VALIDITY.total_seconds()]
        upcoming = [self.next.certificate] if self.next is not None else []
        return [self.current.certificate, *upcoming, *kept]

    def bundle(self, now: float) -> str:
        """What agents' trust stores take: every CA a gateway's leaf may come from."""
        return "".join(_cert_pem(c) for c in self.trusted(now))

    def prepared(self, new: ProxyCA) -> CARing:
        if self.next is not None:
            raise InvalidRequest("a next CA is already published: promote it first")
        return CARing(self.current, new, self.retired)

    def promoted(self, now: float) -> CARing:
        if self.next is None:
            raise InvalidRequest("no next CA is published: prepare one first")
        live = tuple((c, at) for c, at in self.retired if c in self.trusted(now))
        return CARing(self.next, None, ((self.current.certificate, now), *live))


def _encode(ring: CARing) -> bytes:
    def pair(ca: ProxyCA) -> dict[str, str]:
        return {"certificate": _cert_pem(ca.certificate), "key": _key_pem(ca.key)}

    doc: dict[str, Any] = {"current": pair(ring.current)}
    if ring.next is not None:
        doc["next"] = pair(ring.next)
    doc["retired"] = [{"certificate": _cert_pem(c), "retired_at": at} for c, at in ring.retired]
    return json.dumps(doc).encode("ascii")


def _decode(value: bytes) -> CARing:
    try:
        if not value.lstrip().startswith(b"{"):  # the first format: one certificate and key
            return CARing(_pair(value, value))
        doc = json.loads(value)
        pair = doc.get("next")
        retired = tuple(
            (x509.load_pem_x509_certificate(r["certificate"].encode()), float(r["retired_at"]))
            for r in doc.get("retired", [])
        )
        current = _pair(doc["current"]["certificate"].encode(), doc["current"]["key"].encode())
        upcoming = _pair(pair["certificate"].encode(), pair["key"].encode()) if pair else None
        return CARing(current, upcoming, retired)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise Unavailable(
            "the proxy CA in the secret backend cannot be read",
            reason=Reason.SECRET_BACKEND_UNAVAILABLE,
        ) from None


def _pair(certificate_pem: bytes, key_pem: bytes) -> ProxyCA:
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the proxy CA's key is not an EC key")
    if key.public_key() != certificate.public_key():
        raise ValueError("the proxy CA's key does not match its certificate")
    return ProxyCA(certificate, key)


def load_ring(store: SecretStore, clock: Clock) -> CARing:
    """The CAs from the secret backend, the first made and stored if there is none yet
    (read back after storing, so two creators at once end up using the same one)."""
    try:
        return _decode(store.get(CA_SECRET))
    except SecretNotFound:
        store.put(CA_SECRET, _encode(CARing(new_ca(clock))))
        return _decode(store.get(CA_SECRET))


def load_or_create_ca(store: SecretStore, clock: Clock) -> ProxyCA:
    """The CA that signs leaves now."""
    return load_ring(store, clock).current


def rotate_ca(store: SecretStore, clock: Clock, *, promote: bool) -> CARing:
    """Rotation in two steps, as for signing keys: publish a next CA (gateways keep
    signing with the current one while agents' trust stores take the new bundle), then
    promote it (the old one stays trusted until its leaves have expired). Gateways read
    the ring when they start."""
    ring = load_ring(store, clock)
    changed = ring.promoted(clock()) if promote else ring.prepared(new_ca(clock))
    store.put(CA_SECRET, _encode(changed))
    return changed


def issue_leaf(
    ca: ProxyCA, host: str, clock: Clock
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A short-lived server certificate for exactly ``host``, signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _utc(clock)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + LEAF_VALIDITY, ca.certificate.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return certificate, key


def server_context(
    ca: ProxyCA, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> ssl.SSLContext:
    """A TLS server context presenting ``certificate`` (with the CA in its chain).

    ``ssl`` loads keys from files only: the key goes to a private temporary file
    encrypted under a one-time password held in memory, and the file is gone before this
    returns."""
    password = secrets.token_bytes(32)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    chain = certificate.public_bytes(serialization.Encoding.PEM) + ca.pem().encode("ascii")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(ALPN)
    with tempfile.TemporaryDirectory(prefix="capbroker-leaf-") as tmp:
        cert_file, key_file = Path(tmp) / "leaf.pem", Path(tmp) / "leaf.key"
        cert_file.write_bytes(chain)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(encrypted)
        context.load_cert_chain(cert_file, key_file, password=password)
    return context


class LeafCache:
    """One server context per host, issued on first use and again shortly before expiry."""

    def __init__(self, ca: ProxyCA, clock: Clock) -> None:
        self.ca, self.clock = ca, clock
        self._contexts: dict[str, tuple[datetime.datetime, ssl.SSLContext]] = {}
        self._lock = threading.Lock()

    def context_for(self, host: str) -> ssl.SSLContext:
        now = _utc(self.clock)
        cached = self._contexts.get(host)
        if cached is not None and cached[0] - now > LEAF_RENEW_BEFORE:
            return cached[1]
        with self._lock:
            certificate, key = issue_leaf(self.ca, host, self.clock)
            context = server_context(self.ca, certificate, key)
            self._contexts[host] = (certificate.not_valid_after_utc, context)
            return context
