"""The session record and the shell forms of its variables.

``capbroker session start`` writes the record (mode 0600: it holds the capability token,
never the agent credential) so that ``session end``, ``session status``, the tools' end
hooks and ``capbroker mcp`` find the session without being handed a token.

One project may hold several sessions at once (two Claude Code windows): a hook that
passes its JSON (``--hook-input``) keys the record by the tool's own session id,
``.capbroker/sessions/<id>.json``, so one window's start or end never touches the other's;
commands in the agent's shell find theirs by ``CAPBROKER_SESSION_ID``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Format = Literal["env", "json", "dotenv", "cursor"]
FORMATS: tuple[Format, ...] = ("env", "json", "dotenv", "cursor")
DEFAULT_RECORD = Path(".capbroker") / "session.json"
RECORD_ENV = "CAPBROKER_SESSION_FILE"
SESSION_ENV = "CAPBROKER_SESSION_ID"
SESSIONS_DIR = "sessions"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


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


def hook_key(raw: str) -> str | None:
    """The tool's session id from a hook's JSON (Claude Code ``session_id``, Cursor
    ``conversation_id``), as a file name: used as it is when it reads as one, hashed
    otherwise; None when the input carries none."""
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for name in ("session_id", "conversation_id"):
        value = data.get(name)
        if isinstance(value, str) and value:
            return value if _KEY.match(value) else hashlib.sha256(value.encode()).hexdigest()[:32]
    return None


def keyed_path(base: Path, key: str) -> Path:
    """The record of the tool session ``key`` beside the project's default record."""
    return base.parent / SESSIONS_DIR / f"{key}.json"


def records(base: Path) -> list[tuple[Path, SessionRecord]]:
    """The project's default record and every keyed one."""
    paths = [base, *sorted((base.parent / SESSIONS_DIR).glob("*.json"))]
    return [(p, r) for p in paths if (r := load(p)) is not None]


def locate(
    base: Path, environ: dict[str, str] | os._Environ[str], session_id: str | None = None
) -> tuple[Path, SessionRecord | None]:
    """The record of ``session_id`` (or of the shell's ``CAPBROKER_SESSION_ID``) among the
    project's records; without either, the default record, or the latest keyed one
    (``capbroker mcp`` in a tool that does not pass its session: the newest session)."""
    wanted = session_id or environ.get(SESSION_ENV)
    found = records(base)
    if wanted:
        return next(((p, r) for p, r in found if r.session_id == wanted), (base, None))
    if not found or found[0][0] == base:
        return base, found[0][1] if found else None
    return max(found, key=lambda pair: pair[1].expires_at)
