"""Cursor: ``.cursor/hooks.json`` (version 1).

``sessionStart`` runs ``capbroker session start --format cursor`` (its answer's ``env``
is the session's environment); ``beforeShellExecution`` runs ``capbroker session
guard-shell``, which refuses a command that carries a literal credential or calls the
provider's own host around the gateway; ``sessionEnd`` ends the session. Cursor versions
without session hooks ignore or reject those two keys: use ``capbroker exec -- cursor``
there. Merging keeps every other hook.

Cloud agents (``--cloud``) also get ``.cursor/environment.json``'s ``start`` command, run
on each machine start after ``install`` (whose disk state is cached into the snapshot,
so no token may be made there). It starts the session with the agent credential from
the environment (a secret of the cloud environment, ``CAPBROKER_AGENT_CREDENTIAL``),
writes its variables to ``~/.capbroker-session.env`` (outside the repository, which the
agent pushes) and has ``~/.bashrc`` source that file, so the agent's shells carry it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from broker.agents.setup import NO_SESSION, MergeError, SetupOptions, is_ours, json_object

PATH = ".cursor/hooks.json"
ENVIRONMENT_PATH = ".cursor/environment.json"


HooksError = MergeError


def hooks(options: SetupOptions) -> dict[str, list[dict[str, Any]]]:
    return {
        "sessionStart": [{"command": options.start_command("cursor", hook_input=True)}],
        "beforeShellExecution": [{"command": options.guard_command("cursor")}],
        "sessionEnd": [{"command": options.end_command(hook_input=True)}],
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


CLOUD_ENV_FILE = "$HOME/.capbroker-session.env"


def cloud_start(options: SetupOptions) -> str:
    """The ``start`` command: a session, its variables where the agent's shells read
    them, or the no-session message (the agent then runs without provider access)."""
    env_file = f'"{CLOUD_ENV_FILE}"'
    source_line = shlex.quote(f". {env_file}")
    sourced = (
        f'grep -qsF capbroker-session.env "$HOME/.bashrc" || echo {source_line} >> "$HOME/.bashrc"'
    )
    start = options.start_command("env", credential_from_env=True)
    return f"{start} > {env_file} && {{ {sourced}; }} || echo {shlex.quote(NO_SESSION)}"


def merge_environment(existing: str | None, options: SetupOptions) -> str:
    """environment.json with capbroker's ``start``; another ``start`` already there is
    refused (merge by hand: capbroker's must run first, and quickly)."""
    doc = json_object(existing, None)
    current = doc.get("start")
    if current is not None and not is_ours(current):
        raise HooksError(
            f"start is already set: merge by hand, capbroker's first:\n{cloud_start(options)}"
        )
    doc["start"] = cloud_start(options)
    return json.dumps(doc, indent=2) + "\n"
