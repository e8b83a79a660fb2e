"""``capbroker mcp``: the MCP server over stdio (broker/mcp/), for an agent's MCP config."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from broker.agents import sessions


@click.command("mcp")
@click.option(
    "--record",
    "record_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The session record (default ${sessions.RECORD_ENV} or {sessions.DEFAULT_RECORD}).",
)
def mcp(record_file: Path | None) -> None:
    """Serve the capabilities, check_call, request_approval, approval_status and call
    tools over stdio, with the recorded session's token (none yet: the tools say how)."""
    from broker.mcp.server import build_server  # the SDK loads only for this command

    logging.getLogger("httpx").setLevel(logging.WARNING)  # stderr is the agent tool's log

    path = sessions.record_path(record_file, os.environ).absolute()
    explicit = record_file is not None or bool(os.environ.get(sessions.RECORD_ENV))
    build_server(path, explicit=explicit).run("stdio")
