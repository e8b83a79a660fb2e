"""``capbroker mcp`` in a tool's MCP configuration: ``.mcp.json`` (Claude Code) and
``.cursor/mcp.json`` (Cursor) share one shape, ``{"mcpServers": {name: {command, args}}}``.

Pure; merging keeps every other server and replaces only capbroker's entry.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from broker.agents.setup import MergeError, SetupOptions, json_object

NAME = "capbroker"
CLAUDE_CODE_PATH = ".mcp.json"
CURSOR_PATH = ".cursor/mcp.json"


McpConfigError = MergeError


def server(options: SetupOptions) -> dict[str, Any]:
    """The server entry: capbroker's command split as a shell would, then ``mcp``."""
    command, *args = shlex.split(options.capbroker)
    return {"command": command, "args": [*args, "mcp"]}


def merge(existing: str | None, options: SetupOptions) -> str:
    doc = json_object(existing, "mcpServers")
    doc["mcpServers"][NAME] = server(options)
    return json.dumps(doc, indent=2) + "\n"
