"""``routemap check``: hold a compiled route map against the provider's own description.

Pure: the caller reads the files and hands over the parsed JSON. A GraphQL
introspection result (``{"data": {"__schema": ...}}`` or ``{"__schema": ...}``) is
checked against the map's GraphQL part (``check_graphql``), an OpenAPI 3 document
(``paths`` -> methods) or its trimmed operations list (``{"operations": [...]}``, as
``tests/data/schemas/github/trim.py`` writes) against its REST rules (``check_rest``).

The report lists **gaps** (what the provider offers and the map does not name) and
**errors** (what the map says that the provider does not have: a classified field or a
rule that matches nothing, an invalid lookup). A field or an operation the map names
only to refuse (``{refuse: reason}``) counts as named, and the coverage says how many.

A description that is neither, or one of the wrong kind for the map, is refused with
``InvalidRequest`` naming the problem.
"""

from __future__ import annotations

from collections.abc import Mapping

from broker.errors import InvalidRequest
from broker.routemap.check_graphql import check_graphql
from broker.routemap.check_rest import check_rest
from broker.routemap.checkreport import CheckReport, Kind
from broker.routemap.routemap import RouteMap


def description_kind(document: object) -> Kind:
    """Which kind of description ``document`` is, or ``InvalidRequest``."""
    if isinstance(document, Mapping):
        data = document.get("data")
        if isinstance(document.get("__schema"), Mapping) or (
            isinstance(data, Mapping) and isinstance(data.get("__schema"), Mapping)
        ):
            return "graphql"
        if isinstance(document.get("paths"), Mapping) and (
            "openapi" in document or "swagger" in document
        ):
            return "rest"
        if isinstance(document.get("operations"), list):
            return "rest"
    raise InvalidRequest(
        "the schema file is neither a GraphQL introspection result ({'data': {'__schema'}}) "
        "nor an OpenAPI description ({'openapi', 'paths'}) nor an operations list"
    )


def check_route_map(route_map: RouteMap, document: object) -> CheckReport:
    """Check ``route_map`` against a parsed description (see the module docstring)."""
    kind = description_kind(document)
    if kind == "graphql":
        if route_map.graphql is None:
            raise InvalidRequest(
                f"route map {route_map.name} has no GraphQL part, and the schema file is a "
                "GraphQL introspection result"
            )
        return check_graphql(route_map, document)
    if not route_map.rest:
        raise InvalidRequest(
            f"route map {route_map.name} has no REST rules, and the schema file is a REST "
            "(OpenAPI) description"
        )
    return check_rest(route_map, document)
