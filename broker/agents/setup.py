"""What every tool's integration is made of: the options and the capbroker commands.

Pure: the commands are strings the tools' hooks run in a POSIX shell; every value that
comes from an option is shell-quoted. The agent credential is never in them: the hooks
read it from a file (``--credential-file``) that only its owner may read.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

# What every hook command capbroker writes runs, whatever runs capbroker (a path, a
# ``python -m``): a second setup recognises its entries by it and replaces them.
_OURS = re.compile(r"(?:^|\s)session (?:start|end|guard-shell)(?:\s|$)")
# The fallback message the agent reads when its session could not start: no provider
# access, and no other credential to look for.
NO_SESSION = (
    "capbroker: no provider session was started (the hook's error says why). This session "
    "has no provider access; ask a human, and do not look for another credential."
)


def is_ours(command: object) -> bool:
    return isinstance(command, str) and _OURS.search(command) is not None


class MergeError(ValueError):
    """An existing file capbroker cannot merge into (it writes nothing then)."""


def json_object(existing: str | None, member: str | None) -> dict[str, Any]:
    """The existing JSON file as an object whose ``member`` (if one is named) is an object
    (both made empty when the file is absent or blank)."""
    doc: Any = {}
    if existing and existing.strip():
        try:
            doc = json.loads(existing)
        except ValueError as exc:
            raise MergeError(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise MergeError("not a JSON object")
    if member is not None and not isinstance(doc.setdefault(member, {}), dict):
        raise MergeError(f"not an object with a {member} object")
    return doc


@dataclass(frozen=True)
class SetupOptions:
    template: str
    environment: str
    broker_url: str
    gateway_url: str
    credential_file: str = "$HOME/.config/capbroker/agent-credential"
    ttl: int = 900  # short: SessionEnd does not fire on every exit
    capbroker: str = "capbroker"  # how the hooks run capbroker (a path or a command)
    provider: str = ""  # for the shell guard: whose real hosts are off limits
    hosts: tuple[str, ...] = field(default=())  # the provider's real API hosts
    # The forward proxy (``--proxy``): its URL, the CA bundle and the providers file as
    # the hooks' shell reads them; the provider's own token variables (its token_env).
    proxy: str = ""
    ca: str = ""
    providers: str = ""
    token_vars: tuple[str, ...] = field(default=())

    def _base(self) -> str:
        return self.capbroker  # a command line the user chose, used as written

    def _credential(self) -> str:
        # "$HOME/..." must expand in the hook's shell: quote the rest, not the variable.
        path = self.credential_file
        if path.startswith("$HOME/"):
            return '"$HOME"/' + shlex.quote(path.removeprefix("$HOME/"))
        return shlex.quote(path)

    def _grant(self) -> str:
        """The options every token request repeats: where, which template, which
        environment, how long, and the proxy's when there is one."""
        q = shlex.quote
        grant = (
            f"--url {q(self.broker_url)} --gateway {q(self.gateway_url)}"
            f" --template {q(self.template)} --env {q(self.environment)} --ttl {self.ttl}"
        )
        if self.proxy:
            grant += f" --proxy {q(self.proxy)} --ca {q(self.ca)}"
            grant += f" --providers {q(self.providers)}" if self.providers else ""
        return grant

    def start_command(
        self, fmt: str, *, credential_from_env: bool = False, hook_input: bool = False
    ) -> str:
        """``credential_from_env``: the agent credential comes from the environment
        (``CAPBROKER_AGENT_CREDENTIAL``, a cloud agent's secret), not from a file.
        ``hook_input``: the tool pipes its hook JSON, whose session id keys the record (two
        sessions in one project keep theirs apart)."""
        source = "" if credential_from_env else f" --credential-file {self._credential()}"
        keyed = " --hook-input" if hook_input else ""
        return (
            f"{self._base()} session start {self._grant()} --replace{keyed}{source} --format {fmt}"
        )

    def end_command(self, *, hook_input: bool = False) -> str:
        keyed = " --hook-input" if hook_input else ""
        return (
            f"{self._base()} session end --url {shlex.quote(self.broker_url)}{keyed}"
            f" --credential-file {self._credential()}"
        )

    def guard_command(self, tool: str) -> str:
        hosts = "".join(f" --host {shlex.quote(h)}" for h in self.hosts)
        # The credential file by its last two parts (~, $HOME or a full path before them).
        tail = "/".join(self.credential_file.rstrip("/").split("/")[-2:])
        protect = f" --protect {shlex.quote(tail)} --protect CAPBROKER_AGENT_CREDENTIAL"
        proxied = " --proxied" if self.proxy else ""
        return f"{self._base()} session guard-shell --for {tool}{hosts}{protect}{proxied}"

    def exec_command(self, agent: str) -> str:
        return f"{self._base()} exec {self._grant()} -- {agent}"
