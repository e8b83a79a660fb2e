"""Codex CLI: ``.codex/config.toml`` and ``capbroker exec -- codex`` as the launcher.

Codex has no session hook to hand a token to, so capbroker launches it: ``capbroker
exec`` requests the token, runs ``codex`` with the variables set, and ends the session
when it exits. Codex builds its shell commands' environment from
``[shell_environment_policy]``, whose default excludes drop every name holding
``TOKEN``; the section written here lets through exactly the session's variables and a
small core, so nothing else in the user's environment reaches the agent's commands.
``[sandbox_workspace_write] network_access`` lets those commands reach the gateway, and
``[mcp_servers.capbroker]`` adds ``capbroker mcp``.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

from broker.agents import mcp_config
from broker.agents.setup import SetupOptions
from broker.agents.variables import ALL_PROXY_VARS

PATH = ".codex/config.toml"
CORE = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TERM", "LANG", "LC_*")


class ConfigError(ValueError):
    """The existing config holds a section capbroker would have to change."""


def session_variables(provider: str, proxy: SetupOptions | None = None) -> tuple[str, ...]:
    """The session's variables; through the forward proxy (``proxy`` given), also the
    proxy, CA and provider token variables ``exec --proxy`` sets."""
    stem = provider.upper().replace("-", "_")
    names = (f"{stem}_API_URL", f"{stem}_TOKEN", "CAPBROKER_SESSION_ID")
    if proxy is None or not proxy.proxy:
        return names
    extra = (*ALL_PROXY_VARS, *proxy.token_vars)
    return (*names, *dict.fromkeys(n for n in extra if n not in names))


def sections(options: SetupOptions) -> dict[str, str]:
    """capbroker's tables, by dotted name, as TOML text."""
    variables = session_variables(options.provider, options)
    names = ", ".join(f'"{n}"' for n in (*CORE, *variables))
    mcp = mcp_config.server(options)
    args = ", ".join(json.dumps(a) for a in mcp["args"])
    return {
        "shell_environment_policy": (
            "# capbroker: the session's variables, and nothing else secret, reach commands\n"
            "[shell_environment_policy]\n"
            'inherit = "all"\n'
            "ignore_default_excludes = true\n"
            f"include_only = [{names}]\n"
        ),
        "sandbox_workspace_write": "[sandbox_workspace_write]\nnetwork_access = true\n",
        "mcp_servers.capbroker": (
            f"[mcp_servers.capbroker]\ncommand = {json.dumps(mcp['command'])}\nargs = [{args}]\n"
        ),
    }


def merge(existing: str | None, options: SetupOptions) -> str:
    """Append the tables that are missing; refuse to rewrite ones the user already has."""
    text = existing or ""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})") from None
    missing: list[str] = []
    for name, table in sections(options).items():
        ours, theirs = _table(tomllib.loads(table), name), _table(doc, name)
        if theirs is None:
            missing.append(table)
        elif theirs != ours:
            raise ConfigError(f"[{name}] is already set: merge by hand:\n{table}")
    if not missing:
        return text
    return (text.rstrip("\n") + "\n\n" if text.strip() else "") + "\n".join(missing)


def _table(doc: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def launcher(options: SetupOptions) -> str:
    return options.exec_command("codex")
