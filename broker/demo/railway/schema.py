"""Railway's real public schema, built from the introspection shipped in this package.

``schema.json.gz`` is the Railway CLI's copy of the introspection (source, commit and date in
``README.md`` beside it). The schema has no resolvers of its own: ``resolvers.resolve_field``
serves every field. Built once per process: a ``GraphQLSchema`` is never changed after it is
built here, so all replicas in a process can share it.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources

from graphql import GraphQLSchema, build_client_schema

SCHEMA_FILE = "schema.json.gz"


def introspection() -> dict[str, object]:
    """The introspection result (``{"__schema": ...}``), as published."""
    raw = resources.files("broker.demo.railway").joinpath(SCHEMA_FILE).read_bytes()
    document = json.loads(gzip.decompress(raw))
    data: dict[str, object] = document["data"]
    return data


@cache
def railway_schema() -> GraphQLSchema:
    return build_client_schema(introspection())  # type: ignore[arg-type]
