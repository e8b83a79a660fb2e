"""Cursor: ``.cursor/hooks.json`` (version 1).

``sessionStart`` runs ``capbroker session start --format cursor`` (its answer's ``env``
is the session's environment); ``beforeShellExecution`` runs ``capbroker session
guard-shell``, which refuses a command that carries a literal credential or calls the
provider's own host around the gateway; ``sessionEnd`` ends the session. Cursor versions
without session hooks ignore or reject those two keys: use ``capbroker exec -- cursor``
there. Merging keeps every other hook.
"""

from __future__ import annotations

import json
from typing import Any

from broker.agents.setup import MergeError, SetupOptions, is_ours, json_object

PATH = ".cursor/hooks.json"
ENVIRONMENT_PATH = ".cursor/environment.json"


HooksError = MergeError


def hooks(options: SetupOptions) -> dict[str, list[dict[str, Any]]]:
    return {
        "sessionStart": [{"command": options.start_command("cursor")}],
        "beforeShellExecution": [{"command": options.guard_command("cursor")}],
        "sessionEnd": [{"command": options.end_command()}],
    }


def merge(existing: str | None, options: SetupOptions) -> str:
    doc = json_object(existing, "hooks")
    if doc.setdefault("version", 1) != 1:
        raise HooksError(f"version {doc['version']!r}, not 1")
    for event, entries in hooks(options).items():
        kept = doc["hooks"].get(event, [])
        if not isinstance(kept, list):
            raise HooksError(f"hooks.{event} is not a list")
        doc["hooks"][event] = [e for e in kept if not _ours(e)] + entries
    return json.dumps(doc, indent=2) + "\n"


def _ours(entry: Any) -> bool:
    return isinstance(entry, dict) and is_ours(entry.get("command"))
