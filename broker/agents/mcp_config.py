"""``capbroker mcp`` in a tool's MCP configuration: ``.mcp.json`` (Claude Code) and
``.cursor/mcp.json`` (Cursor) share one shape, ``{"mcpServers": {name: {command, args}}}``.

Pure; merging keeps every other server and replaces only capbroker's entry.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from broker.agents.setup import SetupOptions

NAME = "capbroker"
CLAUDE_CODE_PATH = ".mcp.json"
CURSOR_PATH = ".cursor/mcp.json"


class McpConfigError(ValueError):
    """The existing file is not an object with an mcpServers object."""


def server(options: SetupOptions) -> dict[str, Any]:
    """The server entry: capbroker's command split as a shell would, then ``mcp``."""
    command, *args = shlex.split(options.capbroker)
    return {"command": command, "args": [*args, "mcp"]}


def merge(existing: str | None, options: SetupOptions) -> str:
    doc: Any = {}
    if existing and existing.strip():
        try:
            doc = json.loads(existing)
        except ValueError as exc:
            raise McpConfigError(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.setdefault("mcpServers", {}), dict):
        raise McpConfigError("not an object with an mcpServers object")
    doc["mcpServers"][NAME] = server(options)
    return json.dumps(doc, indent=2) + "\n"
