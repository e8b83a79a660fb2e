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
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from broker.agents.variables import (
    BUNDLE_VARS,
    EXTRA_CA_VARS,
    NO_PROXY_VARS,
    PROXY_VARS,
    SWITCHES,
)

LOCAL = "localhost,127.0.0.1,::1"
if TYPE_CHECKING:
    from broker.gateway.route import ProviderRoute

PROXY_USER = "capbroker"

ca_option = click.option(
    "--ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CAPBROKER_PROXY_CA",
    help="With --proxy: the proxy's CA certificates (capbroker gateway ca > ca.pem; also "
    "CAPBROKER_PROXY_CA).",
)
providers_option = click.option(
    "--providers",
    "providers_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --proxy: the providers file naming the provider's token variables and hosts.",
)


def proxy_address(url: str) -> str:
    """``host:port`` of ``--proxy`` (``http://host:port``, no credentials of its own)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise click.UsageError("--proxy must be http://HOST:PORT (the gateway's --proxy-port)")
    if parts.username or parts.password or parts.path not in ("", "/"):
        raise click.UsageError("--proxy must be http://HOST:PORT, without credentials or path")
    return f"{parts.hostname}:{parts.port}"


def checked_proxy(gateway_url: str | None, proxy: str | None, ca: Path | None) -> str | None:
    """``exec``'s front-end options, checked: the proxy's ``host:port``, or None."""
    if gateway_url is None and proxy is None:
        raise click.UsageError("give --gateway URL, --proxy URL or both")
    if proxy is None:
        return None
    if ca is None:
        raise click.UsageError("--proxy needs --ca FILE (capbroker gateway ca > ca.pem)")
    return proxy_address(proxy)


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
    env.update(dict.fromkeys(BUNDLE_VARS, str(bundle)))
    env.update(dict.fromkeys(EXTRA_CA_VARS, str(ca)))
    env.update(SWITCHES)
    env.update(dict.fromkeys(token_vars, token))
    return env


def load_provider_routes(providers_file: Path | None) -> dict[str, ProviderRoute]:
    """The providers file's routes (read before the session starts, so a bad file starts
    none); none without a file."""
    if providers_file is None:
        return {}
    from broker.errors import BrokerError
    from broker.gateway.factory import load_providers

    try:
        return load_providers(providers_file)
    except BrokerError as error:
        raise click.UsageError(error.detail) from None


def no_proxy(inherited: str, hosts: Sequence[str]) -> str:
    """Loopback, plus what the caller's own NO_PROXY lists, except ``*`` and the hosts the
    proxy answers for: a tool must never send its capability token past the proxy to the
    real provider."""
    entries = [e.strip() for e in inherited.replace(" ", ",").split(",")]
    kept = [e for e in entries if e and e != "*" and not _covers(e, hosts)]
    return ",".join([LOCAL, *kept])


def _covers(entry: str, hosts: Sequence[str]) -> bool:
    """Whether a NO_PROXY entry (``host``, ``.domain``, ``domain``, maybe ``:port``) would
    send one of ``hosts`` around the proxy."""
    domain = entry.lower().rsplit(":", 1)[0] if entry.count(":") == 1 else entry.lower()
    domain = domain.lstrip(".").lstrip("*.")
    return any(h == domain or h.endswith("." + domain) for h in hosts)


def proxy_variables(
    address: str,
    ca: Path,
    token: str,
    routes: Mapping[str, ProviderRoute],
    provider: str,
    *,
    directory: Path,
    inherited_no_proxy: str,
) -> dict[str, str]:
    """Every variable a session through the proxy needs, the CA bundle written into
    ``directory`` (``exec``: a private temporary one; ``session start``: beside the
    session record)."""
    bundle = write_bundle(ca.read_bytes(), directory)
    route = routes.get(provider)
    token_vars = route.token_env if route is not None else ()
    hosts = [h for r in routes.values() for h in r.hosts]
    env = dict(
        proxy_environment(address, token, ca=ca.resolve(), bundle=bundle, token_vars=token_vars)
    )
    env.update(dict.fromkeys(NO_PROXY_VARS, no_proxy(inherited_no_proxy, hosts)))
    return env


def proxy_session(
    env: dict[str, str],
    address: str,
    ca: Path,
    token: str,
    routes: Mapping[str, ProviderRoute],
    provider: str,
) -> Path:
    """Point ``env`` at the proxy for this session; the private directory holding the CA
    bundle (the caller removes it when the command ends)."""
    directory = Path(tempfile.mkdtemp(prefix="capbroker-exec-"))
    inherited = env.get("NO_PROXY") or env.get("no_proxy") or ""
    env.update(
        proxy_variables(
            address, ca, token, routes, provider, directory=directory, inherited_no_proxy=inherited
        )
    )
    return directory
