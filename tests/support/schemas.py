"""The provider schema snapshots kept as test data, and introspections of our own schemas."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from graphql import build_schema, introspection_from_schema

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas"
RAILWAY_SCHEMA = SCHEMAS / "railway" / "schema.json"  # railwayapp/cli src/gql/schema.json
GITHUB_OPERATIONS = SCHEMAS / "github" / "rest-operations.json"  # by trim_endpoints.py
GITHUB_GRAPHQL = SCHEMAS / "github" / "graphql-schema.json"  # by trim_graphql.py


@cache
def railway_snapshot() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(RAILWAY_SCHEMA.read_text(encoding="utf-8"))
    return loaded


@cache
def github_operations() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(GITHUB_OPERATIONS.read_text(encoding="utf-8"))
    return loaded


def introspection(sdl: str) -> dict[str, Any]:
    """``{"__schema": ...}`` for a schema written in SDL, as a server would answer it."""
    return dict(introspection_from_schema(build_schema(sdl)))


def demo_provider_introspection() -> dict[str, Any]:
    """The demo provider's own schema (broker/demo/provider/schema.py), introspected."""
    from broker.demo.provider.schema import SDL

    return {"data": introspection(SDL)}


@cache
def github_graphql() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(GITHUB_GRAPHQL.read_text(encoding="utf-8"))
    return loaded


def load_trim() -> Any:
    """``tests/data/schemas/github/trim.py``, the script beside the data it wrote."""
    return load_schema_module("trim")


def load_schema_module(name: str) -> Any:
    """A script in ``tests/data/schemas/github/`` (``trim``, ``trim_endpoints``, ...)."""
    spec = importlib.util.spec_from_file_location(name, SCHEMAS / "github" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
