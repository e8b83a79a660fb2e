"""Stage 2: which provider a request is for, from the first segment of its path."""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.errors import Denied, Reason
from broker.gateway.resolve import EnvironmentResolver
from broker.routemap.routemap import AuthSpec, RouteMap
from broker.secrets.location import KeyLocation


@dataclass
class ProviderRoute:
    name: str
    route_map: RouteMap
    upstream: str  # base URL without a trailing slash
    master_key: KeyLocation  # where the secret backend keeps its master key
    # Admin-kept: resource key -> environments; consulted before the map's own inventory.
    inventory: dict[str, tuple[str, ...]] = field(default_factory=dict)
    resolver: EnvironmentResolver | None = None
    auth: AuthSpec | None = None  # how the key is injected; None: the map's default
    hosts: tuple[str, ...] = ()  # public host names the forward proxy answers for
    token_env: tuple[str, ...] = ()  # variables its tools read a token from (exec --proxy)

    @property
    def key_auth(self) -> AuthSpec:
        return self.auth or self.route_map.auth


def find_route(providers: dict[str, ProviderRoute], target: str) -> tuple[ProviderRoute, str]:
    """The provider named by ``/{provider}/rest`` and the rest of the path (``/`` if none)."""
    _, _, remainder = target.partition("/")
    name, slash, rest = remainder.partition("/")
    route = providers.get(name)
    if route is None:
        raise Denied("no such provider behind this gateway", reason=Reason.UNKNOWN_ROUTE)
    return route, slash + rest if slash else "/"
