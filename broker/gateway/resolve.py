"""Environment resolution: which environments a classified call touches, on the gateway's
own authority (the request's explicit ids, upstream look-ups made with the master key,
the admin-kept inventory). Never the agent's say-so. Anything unresolvable is a denial.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from broker.clock import Clock
from broker.routemap.errors import unresolved
from broker.routemap.lookups import LookupRequest
from broker.routemap.model import (
    Call,
    EnvById,
    EnvFixed,
    EnvInventory,
    EnvLookup,
    EnvName,
    LookupCall,
    Unscoped,
)
from broker.routemap.routemap import RouteMap

# (status, parsed JSON document or None) for a look-up request sent upstream.
Fetch = Callable[[LookupRequest], Awaitable[tuple[int, object]]]


class EnvironmentResolver:
    def __init__(
        self,
        route_map: RouteMap,
        fetch: Fetch,
        *,
        clock: Clock,
        inventory: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.route_map = route_map
        self._fetch = fetch
        self._clock = clock
        self._inventory = dict(inventory or {})
        self._cache: dict[LookupCall, tuple[float, tuple[str, ...]]] = {}

    async def resolve(self, call: Call) -> frozenset[str] | None:
        """The environments ``call`` touches; None when the map says it touches none."""
        if call.unscoped:
            return None
        names: set[str] = set()
        for source in call.environments:
            if isinstance(source, Unscoped):
                continue
            if isinstance(source, EnvName):
                names.add(source.name)
            elif isinstance(source, EnvFixed):
                names.update(source.names)
            elif isinstance(source, EnvInventory):
                found = self._inventory.get(source.key)
                if found is None:
                    found = self.route_map.inventory_environments(source.key)
                if not found:
                    raise unresolved(f"the inventory has no environments for {source.key}")
                names.update(found)
            elif isinstance(source, EnvById):
                found = await self._lookup(source.lookup)
                if len(found) != 1:
                    raise unresolved("an environment id did not resolve to exactly one name")
                names.update(found)
            elif isinstance(source, EnvLookup):
                values = await self._lookup(source.lookup)
                if source.ids_via is None:
                    names.update(values)
                    continue
                via = self.route_map.lookups[source.ids_via]
                (param,) = via.params
                for env_id in values:
                    found = await self._lookup(LookupCall(source.ids_via, ((param, env_id),)))
                    if len(found) != 1:
                        raise unresolved("an environment id did not resolve to exactly one name")
                    names.update(found)
        if not names:
            raise unresolved(f"{call.action}: no environment could be resolved")
        return frozenset(names)

    async def _lookup(self, call: LookupCall) -> tuple[str, ...]:
        lookup = self.route_map.lookups[call.name]
        now = self._clock()
        cached = self._cache.get(call)
        if cached is not None and now - cached[0] < lookup.cache_seconds:
            return cached[1]
        params = call.param_dict()
        status, document = await self._fetch(lookup.request(params))
        values = tuple(lookup.extract(status, document, params))
        if lookup.cache_seconds > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[call] = (now, values)
        return values
