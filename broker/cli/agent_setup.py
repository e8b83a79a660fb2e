"""``capbroker agent-setup TOOL``: write an agent tool's integration files into a project.

The files come from the pure generators in broker/agents/ (options and the file already
there in, new content out); this command only reads and writes them, or with
``--dry-run`` prints what it would write.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import click

from broker.agents import claude_code, codex, cursor, mcp_config
from broker.agents.setup import SetupOptions
from broker.cli.proxy_env import load_provider_routes

Merge = Callable[[str | None, SetupOptions], str]
TOOLS: dict[str, tuple[tuple[str, Merge], ...]] = {
    "claude-code": (
        (claude_code.PATH, claude_code.merge),
        (mcp_config.CLAUDE_CODE_PATH, mcp_config.merge),
    ),
    "cursor": ((cursor.PATH, cursor.merge), (mcp_config.CURSOR_PATH, mcp_config.merge)),
    "codex": ((codex.PATH, codex.merge),),
    "generic": (),
}


def provider_hosts(provider: str) -> tuple[str, ...]:
    """The real API host of a provider with a shipped route map (none otherwise)."""
    from broker.routemap.compile import SHIPPED_MAPS, shipped_map

    if provider not in SHIPPED_MAPS:
        return ()
    host = urlsplit(shipped_map(provider).upstream).hostname
    return (host,) if host and host not in ("127.0.0.1", "localhost") else ()


@click.command("agent-setup")
@click.argument("tool", type=click.Choice(list(TOOLS)))
@click.option("--template", required=True)
@click.option("--env", "environment", required=True, help="The one environment.")
@click.option("--provider", default="", help="The template's provider (codex, cursor's guard).")
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, envvar="CAPBROKER_URL")
@click.option("--gateway", "gateway_url", required=True, envvar="CAPBROKER_GATEWAY_URL")
@click.option(
    "--credential-file",
    default="$HOME/.config/capbroker/agent-credential",
    show_default=True,
    help="Where the hooks read the agent credential (mode 0600).",
)
@click.option("--ttl", type=click.IntRange(60, 3600), default=900, show_default=True)
@click.option("--capbroker", "capbroker_cmd", default="capbroker", show_default=True)
@click.option("--host", "hosts", multiple=True, help="Another provider host to guard.")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option(
    "--proxy",
    default="",
    envvar="CAPBROKER_PROXY_URL",
    help="Also the gateway's forward proxy, http://HOST:PORT: sessions get the proxy and CA "
    "variables, so the agent's unmodified tools go through it.",
)
@click.option("--ca", default="", help="With --proxy: the CA bundle's path, as the hooks see it.")
@click.option(
    "--providers",
    "providers_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --proxy: the providers file (the provider's token variables and hosts).",
)
@click.option("--cloud", is_flag=True, help="cursor: also .cursor/environment.json's start.")
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
def agent_setup(
    tool: str,
    template: str,
    environment: str,
    provider: str,
    url: str,
    gateway_url: str,
    credential_file: str,
    ttl: int,
    capbroker_cmd: str,
    hosts: tuple[str, ...],
    project: Path,
    proxy: str,
    ca: str,
    providers_file: Path | None,
    cloud: bool,
    dry_run: bool,
) -> None:
    """Set up TOOL (claude-code, cursor, codex, generic) to start a capbroker session."""
    if tool == "codex" and not provider:
        raise click.UsageError("codex needs --provider (its variables are named after it)")
    if proxy and not ca:
        raise click.UsageError("--proxy needs --ca (capbroker gateway ca > ca.pem)")
    if cloud and tool != "cursor":
        raise click.UsageError("--cloud is for cursor (its cloud agents' environment.json)")
    routes = load_provider_routes(providers_file)
    route = routes.get(provider)
    options = SetupOptions(
        template,
        environment,
        url,
        gateway_url,
        credential_file=credential_file,
        ttl=ttl,
        capbroker=capbroker_cmd,
        provider=provider,
        hosts=(*provider_hosts(provider), *(route.hosts if route else ()), *hosts),
        proxy=proxy,
        ca=str(Path(ca).resolve()) if ca else "",
        providers=str(providers_file.resolve()) if providers_file else "",
        token_vars=route.token_env if route else (),
    )
    if not TOOLS[tool]:
        click.echo(options.exec_command("<agent>"))
        return
    files = (*TOOLS[tool], *((cursor.ENVIRONMENT_PATH, cursor.merge_environment),) * cloud)
    # Every file is merged before any is written: one that cannot be merged changes nothing.
    planned = [(project / rel, _merged(project / rel, merge, options)) for rel, merge in files]
    for path, content in planned:
        if dry_run:
            click.echo(f"# {path}\n{content}", nl=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            click.echo(f"capbroker: wrote {path}", err=True)
    if tool == "codex":
        click.echo(f"capbroker: start Codex with: {codex.launcher(options)}", err=True)
    click.echo(
        f"capbroker: tokens live {ttl}s; the agent credential is read from {credential_file}",
        err=True,
    )


def _merged(path: Path, merge: Merge, options: SetupOptions) -> str:
    try:
        return merge(path.read_text() if path.exists() else None, options)
    except ValueError as exc:
        click.echo(f"capbroker: error: {path}: {exc}", err=True)
        sys.exit(2)
