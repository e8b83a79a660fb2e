"""The HTTP session under hvac: optional TLS server-name override for the Vault connection.

``requests`` has no setting for the name a TLS certificate is checked against; urllib3
does (``server_hostname`` for SNI, ``assert_hostname`` for the certificate check), so a
small adapter passes both to every HTTPS connection pool. ``requests`` is a dependency of
hvac, so this adds nothing to install.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter


class _ServerNameAdapter(HTTPAdapter):
    """Connects to the configured address but sends and verifies ``server_name``."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name  # read by init_poolmanager, which __init__ calls
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["server_hostname"] = self._server_name
        pool_kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def make_session(
    server_name: str | None, *, verify: bool | str, cert: tuple[str, str] | None
) -> requests.Session:
    """A session for hvac. ``verify`` and ``cert`` are set here because hvac prefers a
    given session's own settings (its default ``verify=True``) over its arguments."""
    session = requests.Session()
    session.verify = verify
    session.cert = cert
    # Never pick up proxies or a netrc from the environment for the secret backend:
    # a proxy would see the Vault token in every request header.
    session.trust_env = False
    if server_name:
        session.mount("https://", _ServerNameAdapter(server_name))
    return session
