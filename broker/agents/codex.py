"""Codex CLI: ``.codex/config.toml`` and ``capbroker exec -- codex`` as the launcher.

Codex has no session hook to hand a token to, so capbroker launches it: ``capbroker
exec`` requests the token, runs ``codex`` with the variables set, and ends the session
when it exits. Codex builds its shell commands' environment from
``[shell_environment_policy]``, whose default excludes drop every name holding
``TOKEN``; the section written here lets through exactly the session's variables and a
small core, so nothing else in the user's environment reaches the agent's commands.
``[sandbox_workspace_write] network_access`` lets those commands reach the gateway.
"""

from __future__ import annotations

import tomllib

from broker.agents.setup import SetupOptions

PATH = ".codex/config.toml"
CORE = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TERM", "LANG", "LC_*")


class ConfigError(ValueError):
    """The existing config holds a section capbroker would have to change."""


def session_variables(provider: str) -> tuple[str, ...]:
    stem = provider.upper().replace("-", "_")
    return (f"{stem}_API_URL", f"{stem}_TOKEN", "CAPBROKER_SESSION_ID")


def section(provider: str) -> str:
    names = ", ".join(f'"{n}"' for n in (*CORE, *session_variables(provider)))
    return (
        "# capbroker: the session's variables, and nothing else secret, reach commands\n"
        "[shell_environment_policy]\n"
        'inherit = "all"\n'
        "ignore_default_excludes = true\n"
        f"include_only = [{names}]\n"
        "\n"
        "[sandbox_workspace_write]\n"
        "network_access = true\n"
    )


def merge(existing: str | None, options: SetupOptions) -> str:
    """Append capbroker's sections; refuse to rewrite ones the user already has."""
    text = existing or ""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})") from None
    ours = tomllib.loads(section(options.provider))
    clashes = [k for k in ours if k in doc and doc[k] != ours[k]]
    if clashes:
        raise ConfigError(
            f"{', '.join(clashes)} already set: merge by hand:\n{section(options.provider)}"
        )
    if all(k in doc for k in ours):
        return text
    return (text.rstrip("\n") + "\n\n" if text.strip() else "") + section(options.provider)


def launcher(options: SetupOptions) -> str:
    return options.exec_command("codex")
