"""Octokit's generated route list -> the operations list ``routemap check`` reads.

    python tests/data/schemas/github/trim_endpoints.py endpoints.ts [older.json] > new.json

``endpoints.ts`` is ``src/generated/endpoints.ts`` of
``octokit/plugin-rest-endpoint-methods.js``: for every REST operation of GitHub's
published description (except those GitHub marks cloud-only or deprecated), octokit's
scope and method name and ``"METHOD /path{?query}"``. It carries no request bodies, so
when an older trimmed list (``trim.py``'s output) is given, each operation it has too
(same method and path) keeps that list's query and body property names; the others
have no ``body_properties`` (unknown, so ``routemap check`` does not check ``{body.x}``
against them). Aliases octokit keeps under a second name (``renamed``) are dropped.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

_SCOPE = re.compile(r"^  (\w+): \{", re.MULTILINE)
_ENTRY = re.compile(r'(\w+): \[\s*"(GET|POST|PUT|PATCH|DELETE|HEAD) (/[^"]*)"')
_QUERY = re.compile(r"\{\?([^}]*)\}")


def operations(text: str, older: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    scopes = [(m.start(), m.group(1)) for m in _SCOPE.finditer(text)]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for m in _ENTRY.finditer(text):
        scope = next(name for start, name in reversed(scopes) if start <= m.start())
        name, method, route = m.group(1), m.group(2), m.group(3)
        following = _ENTRY.search(text, m.end())
        if "renamed:" in text[m.end() : following.start() if following else len(text)]:
            continue  # the same operation under its older name
        path = _QUERY.sub("", route)
        query = {q for g in _QUERY.findall(route) for q in g.split(",")}
        before = older.get((method, path), {})
        op: dict[str, Any] = {
            "method": method,
            "path": path,
            "operationId": f"{scope}/{name}",
            "path_parameters": sorted(re.findall(r"\{(\w+)\}", path)),
            "query_parameters": sorted(query | set(before.get("query_parameters", []))),
        }
        if "body_properties" in before:
            op["body_properties"] = before["body_properties"]
        found.setdefault((method, path), op)
    return sorted(found.values(), key=lambda o: (o["path"], o["method"]))


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: trim_endpoints.py endpoints.ts [older.json] > new.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        text = handle.read()
    older: dict[tuple[str, str], dict[str, Any]] = {}
    if len(argv) == 3:
        with open(argv[2], encoding="utf-8") as handle:
            older = {(o["method"], o["path"]): o for o in json.load(handle)["operations"]}
    doc = {
        "description": "GitHub REST API (octokit/plugin-rest-endpoint-methods.js endpoints.ts)",
        "operations": operations(text, older),
    }
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
