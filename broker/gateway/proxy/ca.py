"""capbroker's proxy CA and the leaf certificates it issues per host.

The CA is made once and kept as one secret (certificate and private key together, so a
race between two creators can never pair one's key with the other's certificate) in the
secret backend, like the signing keys: the local encrypted store or Vault, never a file in
the clear. Leaf certificates are short-lived, issued per host on first use and kept in
memory only, as ready ``ssl.SSLContext`` objects.
"""

from __future__ import annotations

import datetime
import os
import secrets
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.clock import Clock
from broker.errors import Reason, Unavailable
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


def _encode(ca: ProxyCA) -> bytes:
    key = ca.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # the secret backend encrypts it (local store, Vault)
    )
    return ca.pem().encode("ascii") + key


def _decode(value: bytes) -> ProxyCA:
    try:
        certificate = x509.load_pem_x509_certificate(value)
        key = serialization.load_pem_private_key(value, password=None)
    except ValueError:
        raise Unavailable(
            "the proxy CA in the secret backend cannot be read",
            reason=Reason.SECRET_BACKEND_UNAVAILABLE,
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise Unavailable(
            "the proxy CA's key is not an EC key", reason=Reason.SECRET_BACKEND_UNAVAILABLE
        )
    return ProxyCA(certificate, key)


def load_or_create_ca(store: SecretStore, clock: Clock) -> ProxyCA:
    """The CA from the secret backend, made and stored first if there is none yet (read
    back after storing, so two creators at once end up using the same one)."""
    try:
        return _decode(store.get(CA_SECRET))
    except SecretNotFound:
        store.put(CA_SECRET, _encode(new_ca(clock)))
        return _decode(store.get(CA_SECRET))


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
