"""What ``capbroker exec --proxy`` puts in the command's environment: the forward proxy
with the session's token as its credentials, capbroker's CA in every trust variable
common tools read, and the token in the provider's usual token variables.

The proxy sees every HTTPS call the command makes; hosts no provider names are refused
there, so a tool that ignores the CA or the proxy fails rather than bypassing anything.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import click

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
LOCAL = "localhost,127.0.0.1,::1"
# Read as the whole trust store: they get the system's CAs and capbroker's.
BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")
# Read as extra CAs on top of the tool's own store (Node).
EXTRA_CA_VARS = ("NODE_EXTRA_CA_CERTS",)
PROXY_USER = "capbroker"


def proxy_address(url: str) -> str:
    """``host:port`` of ``--proxy`` (``http://host:port``, no credentials of its own)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise click.UsageError("--proxy must be http://HOST:PORT (the gateway's --proxy-port)")
    if parts.username or parts.password or parts.path not in ("", "/"):
        raise click.UsageError("--proxy must be http://HOST:PORT, without credentials or path")
    return f"{parts.hostname}:{parts.port}"


def system_cas() -> bytes:
    """The system's CA bundle, so hosts the command reaches without the proxy still verify."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return Path(candidate).read_bytes()
    try:
        import certifi
    except ImportError:
        return b""
    return Path(certifi.where()).read_bytes()


def write_bundle(ca: bytes, directory: Path) -> Path:
    bundle = directory / "ca-bundle.pem"
    system = system_cas()
    bundle.write_bytes(system + (b"\n" if system and not system.endswith(b"\n") else b"") + ca)
    return bundle


def proxy_environment(
    address: str, token: str, *, ca: Path, bundle: Path, token_vars: Sequence[str]
) -> Mapping[str, str]:
    """The variables to set (pure: the caller merges them into the command's environment)."""
    proxy = f"http://{PROXY_USER}:{token}@{address}"
    env = dict.fromkeys(PROXY_VARS, proxy)
    env.update(dict.fromkeys(NO_PROXY_VARS, LOCAL))
    env.update(dict.fromkeys(BUNDLE_VARS, str(bundle)))
    env.update(dict.fromkeys(EXTRA_CA_VARS, str(ca)))
    env.update(dict.fromkeys(token_vars, token))
    return env


def token_vars_by_provider(providers_file: Path | None) -> dict[str, tuple[str, ...]]:
    """Each provider's ``token_env`` from the providers file (read before the session
    starts, so a bad file starts none)."""
    if providers_file is None:
        return {}
    from broker.errors import BrokerError
    from broker.gateway.factory import load_providers

    try:
        routes = load_providers(providers_file)
    except BrokerError as error:
        raise click.UsageError(error.detail) from None
    return {name: route.token_env for name, route in routes.items()}


def proxy_session(
    env: dict[str, str],
    address: str,
    ca: Path,
    token: str,
    token_vars: Sequence[str],
) -> Path:
    """Point ``env`` at the proxy for this session; the private directory holding the CA
    bundle (the caller removes it when the command ends)."""
    directory = Path(tempfile.mkdtemp(prefix="capbroker-exec-"))
    bundle = write_bundle(ca.read_bytes(), directory)
    env.update(proxy_environment(address, token, ca=ca, bundle=bundle, token_vars=token_vars))
    return directory
