"""Claude Code: ``.claude/settings.json`` hooks (SessionStart, SessionEnd).

SessionStart runs ``capbroker session start --format env`` and appends its ``export``
lines to ``$CLAUDE_ENV_FILE``, which Claude Code sources before each Bash command. If no
session starts, the hook still succeeds and prints a message (a SessionStart hook's
stdout is added to the agent's context), so the agent starts without provider access and
knows why. SessionEnd ends the session; it does not fire on every exit, so the tokens are
short-lived. PreToolUse on Bash runs the shell guard (broker/agents/shell_guard.py), which
blocks a command with a literal credential, the provider's own host or the agent
credential. Merging keeps every setting and every other hook already there.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from broker.agents.setup import NO_SESSION, MergeError, SetupOptions, is_ours, json_object

PATH = ".claude/settings.json"
TIMEOUT_S = 30


SettingsError = MergeError


def hooks(options: SetupOptions) -> dict[str, list[dict[str, Any]]]:
    fallback = f"echo {shlex.quote(NO_SESSION)}"
    start = f'{options.start_command("env", hook_input=True)} >> "$CLAUDE_ENV_FILE" || {fallback}'
    return {
        "SessionStart": [_entry(start)],
        "SessionEnd": [_entry(options.end_command(hook_input=True))],
        "PreToolUse": [{"matcher": "Bash", **_entry(options.guard_command("claude-code"))}],
    }


def _entry(command: str) -> dict[str, Any]:
    return {"hooks": [{"type": "command", "command": command, "timeout": TIMEOUT_S}]}


def merge(existing: str | None, options: SetupOptions) -> str:
    """The settings file with capbroker's hooks in place of any earlier ones."""
    settings = json_object(existing, "hooks")
    all_hooks = settings["hooks"]
    for event, entries in hooks(options).items():
        kept = all_hooks.get(event, [])
        if not isinstance(kept, list):
            raise SettingsError(f"hooks.{event} is not a list")
        all_hooks[event] = [e for e in kept if not _ours(e)] + entries
    return json.dumps(settings, indent=2) + "\n"


def _ours(entry: Any) -> bool:
    return isinstance(entry, dict) and any(
        isinstance(h, dict) and is_ours(h.get("command")) for h in entry.get("hooks", [])
    )
