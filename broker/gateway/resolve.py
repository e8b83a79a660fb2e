"""Environment resolution: which environments a classified call touches, on the gateway's
own authority (the request's explicit ids, upstream look-ups made with the master key,
the admin-kept inventory). Never the agent's say-so. Anything unresolvable is a denial.

Before any environment, the call's relation checks run (the backup named belongs to the
instance named); one that does not hold refuses the call. Look-ups page and chain within
their caps (``pages.max``, ``then`` depth, ``timeout_seconds``); hitting a cap refuses.
Cached answers serve a call only as the look-up's cache policy allows
(``Lookup.reusable``): mutable relations are asked again for writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from broker.clock import Clock
from broker.routemap.errors import relation_unproven, unresolved
from broker.routemap.lookups import Lookup, LookupRequest
from broker.routemap.model import (
    Call,
    EnvById,
    EnvFixed,
    EnvInventory,
    EnvLookup,
    EnvName,
    LookupCall,
    Unresolvable,
    Unscoped,
)
from broker.routemap.resultpath import MAX_RESULTS
from broker.routemap.routemap import RouteMap

# (status, parsed JSON document or None) for a look-up request sent upstream.
Fetch = Callable[[LookupRequest], Awaitable[tuple[int, object]]]
MAX_CACHED = 10_000


def _uncounted(source: str) -> None:
    """Look-ups go uncounted unless metrics are attached (``broker.metrics.gateway``)."""


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
        self.on_lookup: Callable[[str], None] = _uncounted  # "cache" or "upstream"

    async def resolve(self, call: Call) -> frozenset[str] | None:
        """The environments ``call`` touches; None when the map says it touches none.

        Its relation checks run first: a call that names unrelated objects is refused
        before anything is resolved for it.
        """
        for check in call.checks:
            values = await self._lookup(check.lookup, call.effect, allow_empty=True)
            if check.expected not in values:
                raise relation_unproven(f"{call.action}: {check.reason}")
        if call.unscoped:
            return None
        names: set[str] = set()
        for source in call.environments:
            if isinstance(source, Unscoped):
                continue
            if isinstance(source, Unresolvable):
                raise unresolved(f"{call.action}: {source.why or 'the map cannot place it'}")
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
                names.update(await self._one_name(source.lookup, call.effect))
            elif isinstance(source, EnvLookup):
                values = await self._lookup(source.lookup, call.effect)
                if source.ids_via is None:
                    names.update(values)
                    continue
                via = self.route_map.lookups[source.ids_via]
                (param,) = via.params
                for env_id in values:
                    one = LookupCall(source.ids_via, ((param, env_id),))
                    names.update(await self._one_name(one, call.effect))
        if not names:
            raise unresolved(f"{call.action}: no environment could be resolved")
        return frozenset(names)

    async def _one_name(self, call: LookupCall, effect: str) -> tuple[str, ...]:
        found = await self._lookup(call, effect)
        if len(found) != 1:
            raise unresolved("an environment id did not resolve to exactly one name")
        return found

    async def _lookup(
        self, call: LookupCall, effect: str, *, allow_empty: bool = False
    ) -> tuple[str, ...]:
        """``call``'s values, its ``then`` chain followed, within its time cap. Nothing
        found is unresolved unless ``allow_empty``."""
        lookup = self.route_map.lookups[call.name]
        # A cached answer with nothing to follow needs no time cap (the common read).
        values = self._hit(lookup, call, effect) if lookup.then is None else None
        if values is not None:
            self.on_lookup("cache")
        else:
            try:
                async with asyncio.timeout(lookup.timeout_seconds):
                    values = await self._chain(call, effect)
            except TimeoutError:
                raise unresolved(f"lookup {call.name} took longer than its time cap") from None
        if not values and not allow_empty:
            raise unresolved(f"lookup {call.name} found nothing")
        return values

    async def _chain(self, call: LookupCall, effect: str) -> tuple[str, ...]:
        lookup = self.route_map.lookups[call.name]
        values = await self._cached(lookup, call, effect)
        if lookup.then is None:
            return values
        out: list[str] = []
        for value in values:
            nxt = LookupCall(lookup.then.lookup, ((lookup.then.param, value),))
            out.extend(await self._chain(nxt, effect))
            if len(out) > MAX_RESULTS:
                raise unresolved(f"lookup {call.name} found too many values")
        return tuple(dict.fromkeys(out))

    def _hit(self, lookup: Lookup, call: LookupCall, effect: str) -> tuple[str, ...] | None:
        """The cached answer, when the look-up's cache policy lets this call use it."""
        cached = self._cache.get(call)
        if cached is None or not lookup.reusable(effect):
            return None
        return cached[1] if self._clock() - cached[0] < lookup.cache_seconds else None

    async def _cached(self, lookup: Lookup, call: LookupCall, effect: str) -> tuple[str, ...]:
        hit = self._hit(lookup, call, effect)
        if hit is not None:
            self.on_lookup("cache")
            return hit
        self.on_lookup("upstream")
        now = self._clock()
        values = await self._pages(lookup, call.param_dict())
        if lookup.cache_seconds > 0:
            if len(self._cache) > MAX_CACHED:
                self._cache.clear()
            self._cache[call] = (now, values)
        return values

    async def _pages(self, lookup: Lookup, params: dict[str, str]) -> tuple[str, ...]:
        """Every page of one look-up (one request when it does not page)."""
        out: list[str] = []
        cursor: str | None = None
        pages = lookup.pages.max if lookup.pages is not None else 1
        for _ in range(pages):
            status, document = await self._fetch(lookup.request(params, cursor))
            out.extend(lookup.extract(status, document, params, allow_empty=True))
            if len(out) > MAX_RESULTS:
                raise unresolved(f"lookup {lookup.name} found too many values")
            cursor = lookup.next_cursor(document)
            if cursor is None:
                return tuple(dict.fromkeys(out))
        raise unresolved(f"lookup {lookup.name} hit its cap of {pages} pages")
