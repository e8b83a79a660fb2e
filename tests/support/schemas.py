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
GITHUB_OPERATIONS = SCHEMAS / "github" / "rest-operations.json"  # trimmed by trim.py


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


def load_trim() -> Any:
    """``tests/data/schemas/github/trim.py``, the script beside the data it wrote."""
    spec = importlib.util.spec_from_file_location("trim", SCHEMAS / "github" / "trim.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
