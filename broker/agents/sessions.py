"""The session record and the shell forms of its variables.

``capbroker session start`` writes the record (mode 0600: it holds the capability token,
never the agent credential) so that ``session end``, ``session status``, the tools' end
hooks and ``capbroker mcp`` find the session without being handed a token.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Format = Literal["env", "json", "dotenv", "cursor"]
FORMATS: tuple[Format, ...] = ("env", "json", "dotenv", "cursor")
DEFAULT_RECORD = Path(".capbroker") / "session.json"
RECORD_ENV = "CAPBROKER_SESSION_FILE"


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    provider: str
    template: str
    environment: str
    expires_at: float
    broker_url: str
    gateway_url: str
    token_var: str
    url_var: str
    variables: dict[str, str] = field(repr=False)  # holds the token

    @property
    def token(self) -> str:
        return self.variables[self.token_var]

    @property
    def api_url(self) -> str:
        return self.variables[self.url_var]


def render(variables: dict[str, str], fmt: Format) -> str:
    """``env``: ``export`` lines a POSIX shell sources (what ``$CLAUDE_ENV_FILE`` takes);
    ``dotenv``: ``KEY=value`` lines; ``json``: one object; ``cursor``: the answer of a
    Cursor ``sessionStart`` hook (its ``env`` is the session's environment)."""
    if fmt == "json":
        return json.dumps(variables, indent=2, sort_keys=True)
    if fmt == "cursor":
        return json.dumps({"env": variables})
    prefix = "export " if fmt == "env" else ""
    return "\n".join(f"{prefix}{k}={shlex.quote(v)}" for k, v in sorted(variables.items()))


def record_path(explicit: Path | None, environ: dict[str, str] | os._Environ[str]) -> Path:
    if explicit is not None:
        return explicit
    return Path(environ[RECORD_ENV]) if environ.get(RECORD_ENV) else DEFAULT_RECORD


def prepare_directory(path: Path) -> None:
    """The record's directory; a new one gets a ``.gitignore`` so nothing in it (the
    record, a session's CA bundle) is ever committed with the project."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
        (path.parent / ".gitignore").write_text("*\n")


def save(path: Path, record: SessionRecord) -> None:
    """Written whole with mode 0600 before it holds anything (the token is a secret)."""
    prepare_directory(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(record), f)
    os.replace(tmp, path)


def load(path: Path) -> SessionRecord | None:
    """The record at ``path``, or None when there is none or it is not one of ours."""
    try:
        data: Any = json.loads(path.read_text())
        return SessionRecord(**data)
    except (OSError, ValueError, TypeError):
        return None
