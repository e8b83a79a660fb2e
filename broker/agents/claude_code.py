"""Claude Code: ``.claude/settings.json`` hooks (SessionStart, SessionEnd).

SessionStart runs ``capbroker session start --format env`` and appends its ``export``
lines to ``$CLAUDE_ENV_FILE``, which Claude Code sources before each Bash command. If no
session starts, the hook still succeeds and prints a message (a SessionStart hook's
stdout is added to the agent's context), so the agent starts without provider access and
knows why. SessionEnd ends the session; it does not fire on every exit, so the tokens are
short-lived. Merging keeps every setting and every other hook already there.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from broker.agents.setup import MARKER, NO_SESSION, SetupOptions

PATH = ".claude/settings.json"
TIMEOUT_S = 30


class SettingsError(ValueError):
    """The existing settings file is not a JSON object with list-valued hooks."""


def hooks(options: SetupOptions) -> dict[str, list[dict[str, Any]]]:
    fallback = f"echo {shlex.quote(NO_SESSION)}"
    start = f'{options.start_command("env")} >> "$CLAUDE_ENV_FILE" || {fallback}'
    return {
        "SessionStart": [_entry(start)],
        "SessionEnd": [_entry(options.end_command())],
    }


def _entry(command: str) -> dict[str, Any]:
    return {"hooks": [{"type": "command", "command": command, "timeout": TIMEOUT_S}]}


def merge(existing: str | None, options: SetupOptions) -> str:
    """The settings file with capbroker's hooks in place of any earlier ones."""
    settings = _parse(existing)
    all_hooks = settings.setdefault("hooks", {})
    if not isinstance(all_hooks, dict):
        raise SettingsError("hooks is not an object")
    for event, entries in hooks(options).items():
        kept = all_hooks.get(event, [])
        if not isinstance(kept, list):
            raise SettingsError(f"hooks.{event} is not a list")
        all_hooks[event] = [e for e in kept if not _ours(e)] + entries
    return json.dumps(settings, indent=2) + "\n"


def _parse(existing: str | None) -> dict[str, Any]:
    if existing is None or not existing.strip():
        return {}
    try:
        settings = json.loads(existing)
    except ValueError as exc:
        raise SettingsError(f"not valid JSON ({exc})") from None
    if not isinstance(settings, dict):
        raise SettingsError("not a JSON object")
    return settings


def _ours(entry: Any) -> bool:
    return isinstance(entry, dict) and any(
        isinstance(h, dict) and MARKER in str(h.get("command", "")) for h in entry.get("hooks", [])
    )
