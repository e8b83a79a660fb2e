"""Trim an OpenAPI 3 description into the operations list ``routemap check`` reads.

    python tests/data/schemas/github/trim.py api.github.com.json > rest-operations.json

For every path and method: the operationId, the path and query parameter names
(path-level and operation-level, ``$ref``s to components resolved) and the top-level
property names of the JSON request body (through ``$ref`` and ``allOf``/``oneOf``/
``anyOf``). Everything else (descriptions, responses, examples) is dropped.
"""

from __future__ import annotations

import json
import sys
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "head")


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow local ``#/a/b`` references until a node that is not a reference."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node, seen = target, seen + 1
    return node


def parameter_names(doc: dict[str, Any], params: list[Any], where: str) -> list[str]:
    names = (resolve(doc, p) for p in params)
    return sorted({p["name"] for p in names if p.get("in") == where})


def body_properties(doc: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    body = resolve(doc, operation.get("requestBody"))
    if not isinstance(body, dict):
        return []
    media = body.get("content", {}).get("application/json")
    if not isinstance(media, dict):
        return []
    return sorted(_properties(doc, media.get("schema"), 0))


def _properties(doc: dict[str, Any], schema: Any, depth: int) -> set[str]:
    schema = resolve(doc, schema)
    if not isinstance(schema, dict) or depth > 8:
        return set()
    found = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            found |= _properties(doc, part, depth + 1)
    return found


def trim(doc: dict[str, Any]) -> dict[str, Any]:
    operations = []
    for path, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            params = shared + operation.get("parameters", [])
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "operationId": operation.get("operationId", ""),
                    "path_parameters": parameter_names(doc, params, "path"),
                    "query_parameters": parameter_names(doc, params, "query"),
                    "body_properties": body_properties(doc, operation),
                }
            )
    info = doc.get("info", {})
    return {
        "description": f"{info.get('title', '')} {info.get('version', '')}".strip(),
        "openapi": doc.get("openapi", ""),
        "operations": operations,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: trim.py OPENAPI.json > rest-operations.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        doc = json.load(handle)
    json.dump(trim(doc), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
