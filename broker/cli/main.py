"""``capbroker``: serve the broker and administer it from the command line.

Admin commands act directly on the configured database and secret store (as the
server does), so they work before any admin credential exists. Commands that only read
write nothing; commands that write bring the schema up to date first; the first signing
key is made by ``serve`` and ``migrate`` (broker/cli/context.py, CliState).

The commands live by area: serving.py (serve, migrate, gateway serve, demo),
principals.py (agents, admins), templates.py (apply, templates, policy), approvals.py,
kills.py, keys.py, audit.py, explain.py, secrets.py, routemap.py (routemap check),
agent.py (token, exec over HTTP); render.py turns results into text.
"""

from __future__ import annotations

from pathlib import Path

import click

import broker
from broker.cli.agent import exec_, token
from broker.cli.agent_setup import agent_setup
from broker.cli.approvals import approvals
from broker.cli.audit import audit
from broker.cli.context import CliState
from broker.cli.explain import explain
from broker.cli.keys import keys
from broker.cli.kills import kill
from broker.cli.mcp_server import mcp
from broker.cli.principals import admins, agents
from broker.cli.routemap import routemap
from broker.cli.secrets import secrets
from broker.cli.serving import demo, gateway, migrate, serve
from broker.cli.session import session
from broker.cli.templates import apply, policy, templates


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(broker.__version__, prog_name="capbroker")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CAPBROKER_CONFIG",
    help="YAML settings file (also CAPBROKER_CONFIG).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory (default ./.capbroker; also CAPBROKER_DATA_DIR).",
)
@click.option("--database-url", help="SQLAlchemy URL; default SQLite in the data directory.")
@click.pass_context
def main(
    ctx: click.Context, config: Path | None, data_dir: Path | None, database_url: str | None
) -> None:
    """capbroker: scoped, short-lived capability tokens for AI agents."""
    ctx.obj = CliState(config, {"data_dir": data_dir, "database_url": database_url})


for command in (
    serve,
    migrate,
    demo,
    apply,
    templates,
    policy,
    agents,
    admins,
    gateway,
    secrets,
    token,
    exec_,
    approvals,
    kill,
    keys,
    audit,
    explain,
    routemap,
    session,
    agent_setup,
    mcp,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
