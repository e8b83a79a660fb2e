"""GitHub's public GraphQL schema (SDL) -> the trimmed introspection ``routemap check`` reads.

    python tests/data/schemas/github/trim_graphql.py schema.graphql > graphql-schema.json

Kept whole: the ``Query`` and ``Mutation`` root fields with their arguments, and every
input object, enum and scalar (what ``{args.input.x}`` references are checked against).
Object and interface types keep only the fields in ``KEEP`` (what the ``github`` map's
lookups and its tests select), the fields of the interfaces they implement, and
otherwise their first field (a type needs one). Types nothing reaches are dropped, and
so are descriptions. The SDL repeats a few field definitions, so it is read without
graphql-core's SDL validation; the result is validated as a schema before it is written.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from graphql import (
    build_ast_schema,
    build_client_schema,
    introspection_from_schema,
    parse,
    validate_schema,
)

ROOTS = ("Query", "Mutation")
KEEP = {
    "BranchProtectionRule": ["repository"],
    "CheckSuite": ["repository"],
    "CreatePullRequestPayload": ["pullRequest"],
    "Deployment": ["environment", "repository"],
    "Environment": ["name"],
    "EnvironmentConnection": ["nodes", "pageInfo"],
    "Issue": ["repository"],
    "PageInfo": ["endCursor", "hasNextPage"],
    "PullRequest": ["id", "number", "repository", "url"],
    "Ref": ["repository"],
    "Repository": ["environments", "id", "name", "nameWithOwner"],
    "RepositoryRuleset": ["source"],
    "User": ["login"],
    "WorkflowRun": ["checkSuite"],
}


def trim(schema_doc: dict[str, Any]) -> dict[str, Any]:
    types = {t["name"]: t for t in schema_doc["types"]}
    kept_fields = {name: _kept(types, name) for name in types}
    for t in types.values():
        if t["kind"] in ("OBJECT", "INTERFACE") and t["name"] not in ROOTS:
            names = kept_fields[t["name"]]
            t["fields"] = [f for f in t["fields"] if f["name"] in names]
    reached = _reachable(types)
    schema_doc["types"] = [t for t in schema_doc["types"] if t["name"] in reached]
    schema_doc["directives"] = []
    return schema_doc


def _kept(types: dict[str, Any], name: str) -> set[str]:
    t = types[name]
    if t["kind"] not in ("OBJECT", "INTERFACE") or name in ROOTS:
        return set()
    names = set(KEEP.get(name, []))
    for interface in t.get("interfaces") or []:
        names |= set(KEEP.get(interface["name"], [])) | _first(types[interface["name"]])
    return names or _first(t)


def _first(t: dict[str, Any]) -> set[str]:
    return {t["fields"][0]["name"]} if t.get("fields") else set()


def _named(ref: dict[str, Any]) -> str:
    while ref.get("ofType"):
        ref = ref["ofType"]
    return str(ref["name"])


def _reachable(types: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in seen or name not in types:
            continue
        seen.add(name)
        t = types[name]
        for field in (t.get("fields") or []) + (t.get("inputFields") or []):
            todo.append(_named(field["type"]))
            todo.extend(_named(a["type"]) for a in field.get("args", []))
        todo.extend(i["name"] for i in (t.get("interfaces") or []) + (t.get("possibleTypes") or []))
    return seen | {n for n in types if n.startswith("__")} | {"String", "Boolean"}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: trim_graphql.py schema.graphql > graphql-schema.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        schema = build_ast_schema(parse(handle.read(), no_location=True), assume_valid_sdl=True)
    doc = trim(dict(introspection_from_schema(schema, descriptions=False))["__schema"])
    problems = validate_schema(build_client_schema({"__schema": doc}))  # type: ignore[typeddict-item]
    if problems:
        print(f"the trimmed schema is invalid: {problems[0].message}", file=sys.stderr)
        return 1
    json.dump({"data": {"__schema": doc}}, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
