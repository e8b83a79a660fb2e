"""``capbroker serve``, ``migrate``, ``gateway serve`` and ``demo``: the long-running parts.

``serve`` and ``migrate`` are the two commands that make the first signing key; every
other command leaves keys alone (``keys rotate`` makes the first one only to rotate it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

import broker
from broker.cli.context import (
    BOOTSTRAP_ACTOR,
    CliState,
    pass_state,
    reported_errors,
    workers_option,
)

if TYPE_CHECKING:
    from broker.gateway.app import Gateway
    from broker.services.container import Services


@click.command()
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default 8080).")
@workers_option("audit chain; they share the store")
@pass_state
def serve(state: CliState, host: str | None, port: int | None, workers: int) -> None:
    """Run the broker's HTTP API (embedded default: SQLite + local encrypted secrets)."""
    import uvicorn

    from broker.api.app import create_app
    from broker.httpguard import GuardedHttpToolsProtocol, ServerLimits, guarded
    from broker.logs import configure_logging
    from broker.metrics.broker import instrument_broker
    from broker.metrics.endpoint import check_workers
    from broker.workers import BROKER_SERVER_OPTIONS, hand_on_settings, tune_gc

    with reported_errors():
        services = state.writer(host=host, port=port)
        settings = services.settings
        check_workers(settings.metrics_port, workers)
        log_options = configure_logging(settings.log_format, settings.log_level)
        services.keys.ensure_key(actor=BOOTSTRAP_ACTOR)
        _bootstrap_admin(services)
        _report_start(services)
        options = {"host": settings.host, "port": settings.port, **BROKER_SERVER_OPTIONS}
        options.update(log_options)
        if workers > 1:
            hand_on_settings(settings, state.config)
            services.close()
            uvicorn.run(
                "broker.api.asgi:app_from_environment", factory=True, workers=workers, **options
            )
            return
        app = create_app(services)
        services.start_background_checkpoints()
        metrics = instrument_broker(services)
        if metrics is not None:
            metrics.start()
    tune_gc()
    protocol = guarded(GuardedHttpToolsProtocol, ServerLimits.of(settings))
    uvicorn.run(app, **{**options, "http": protocol})


def _bootstrap_admin(services: Services) -> None:
    from broker.services.principals import bootstrap_admin

    path = services.settings.bootstrap_admin_file
    created = bootstrap_admin(services.principals, path)
    if created is not None and not path:
        # Printed once, to the terminal only: it is stored nowhere but as a slow hash.
        click.echo("Bootstrap admin credential (shown once, store it now):", err=True)
        click.echo(f"  {created.credential}", err=True)
    elif created is not None:
        click.echo("Bootstrap admin created from bootstrap_admin_file", err=True)


def _report_start(services: Services) -> None:
    settings, reach = services.settings, services.reachability()
    click.echo(
        f"capbroker {broker.__version__} listening on http://{settings.host}:{settings.port}"
        f" (database: {services.db.engine.dialect.name},"
        f" secrets: {services.secrets.describe()} [{reach['secret_backend']}],"
        f" signer: {services.keys.describe()} [{reach['signer']}],"
        f" issuer: {settings.effective_issuer})",
        err=True,
    )
    if any(v != "ok" for v in reach.values()):
        click.echo(
            "capbroker: warning: the secret backend or the signer cannot be reached;"
            " /readyz answers 503 and issuance 503 until they can",
            err=True,
        )


@click.command(short_help="Bring the schema up to date and make the first signing key.")
@pass_state
def migrate(state: CliState) -> None:
    """Bring the database schema up to date and make the first signing key (serve does
    both too; the commands that only read need them done)."""
    with reported_errors():
        services = state.writer()
        services.keys.ensure_key(actor=BOOTSTRAP_ACTOR)
        click.echo(f"database schema is current ({services.db.engine.dialect.name})")


@click.group()
def gateway() -> None:
    """The verifying gateway in front of providers' APIs."""


@gateway.command("serve")
@click.option(
    "--providers",
    "providers_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file listing the providers (name, route_map, upstream).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8081, show_default=True)
@click.option(
    "--proxy-port",
    type=int,
    help="Also listen here as an HTTPS forward proxy for the providers' hosts (one worker).",
)
@workers_option("audit chain, caches and revocation set")
@pass_state
def gateway_serve(
    state: CliState,
    providers_file: Path,
    host: str,
    port: int,
    proxy_port: int | None,
    workers: int,
) -> None:
    """Serve /{provider}/{path}: verify, classify, decide, audit, inject the key, forward;
    with --proxy-port, also the same pipeline as a forward proxy for the providers' hosts."""
    import os

    import uvicorn

    from broker.gateway.factory import build_gateway, load_providers
    from broker.gateway.server import PROVIDERS_ENV, SERVER_OPTIONS, ProblemHttpToolsProtocol
    from broker.httpguard import ServerLimits, guarded
    from broker.logs import json_logging
    from broker.metrics.endpoint import check_workers
    from broker.workers import hand_on_settings, tune_gc

    with reported_errors():
        settings = state.settings()
        check_workers(settings.metrics_port, workers)
        log_options = json_logging(settings.log_format, settings.log_level)
        providers = load_providers(providers_file)
        # Built in the parent even for workers: a bad setting or map fails here, once.
        app = build_gateway(settings, providers)
        if proxy_port is not None:
            _serve_with_proxy(state, app, host, port, proxy_port, workers, providers_file)
            return
    click.echo(
        f"capbroker gateway starting on http://{host}:{port} for "
        f"{', '.join(sorted(providers))} (tokens from {settings.effective_issuer}"
        f"{f'; {workers} workers' if workers > 1 else ''})",
        err=True,
    )
    if workers > 1:
        app.store.db.engine.dispose()
        hand_on_settings(settings, state.config)
        os.environ[PROVIDERS_ENV] = str(providers_file.resolve())
        uvicorn.run(
            "broker.gateway.server:gateway_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            **SERVER_OPTIONS,
            **log_options,
        )
        return
    tune_gc()
    protocol = guarded(ProblemHttpToolsProtocol, ServerLimits.of(settings))
    uvicorn.run(app, host=host, port=port, **{**SERVER_OPTIONS, "http": protocol}, **log_options)


def _serve_with_proxy(
    state: CliState,
    app: Gateway,
    host: str,
    port: int,
    proxy_port: int,
    workers: int,
    providers_file: Path,
) -> None:
    from broker.clock import system_clock
    from broker.errors import InvalidRequest
    from broker.gateway.proxy.ca import LeafCache, load_or_create_ca
    from broker.gateway.proxy.passthrough import load_passthrough
    from broker.gateway.proxy.serve import FrontEnds
    from broker.gateway.server import SERVER_OPTIONS
    from broker.services.container import build_secret_store
    from broker.workers import tune_gc

    if workers > 1:
        raise InvalidRequest("--proxy-port runs in one worker: leave out --workers")
    hosts = sorted(h for route in app.pipeline.providers.values() for h in route.hosts)
    if not hosts:
        raise InvalidRequest("--proxy-port: no provider in the providers file names hosts")
    passthrough = load_passthrough(providers_file, app.pipeline.providers)
    ca = load_or_create_ca(build_secret_store(state.settings()), system_clock)
    untouched = f"; passthrough {', '.join(sorted(map(str, passthrough)))}" if passthrough else ""
    click.echo(
        f"capbroker gateway starting on http://{host}:{port}, forward proxy on"
        f" {host}:{proxy_port} for {', '.join(hosts)}{untouched}",
        err=True,
    )
    tune_gc()
    front = FrontEnds(
        app,
        LeafCache(ca, system_clock),
        proxy_host=host,
        proxy_port=proxy_port,
        passthrough=passthrough,
        max_connections_per_client=state.settings().max_connections_per_client,
        host=host,
        port=port,
        **SERVER_OPTIONS,
    )
    front.run()


@gateway.command("ca")
@click.option("--prepare-next", is_flag=True, help="Publish a next CA (it does not sign yet).")
@click.option("--promote-next", is_flag=True, help="The next CA signs; the old one retires.")
@pass_state
def gateway_ca(state: CliState, prepare_next: bool, promote_next: bool) -> None:
    """Print the forward proxy's CA certificates (PEM: every CA a leaf may come from) for
    agents' trust stores; the CA is made on first use, its key kept in the secret backend.
    Rotate in two steps: --prepare-next, let agents take the new bundle, --promote-next,
    then restart the gateways (the retired CA stays in the bundle for a day)."""
    from broker.clock import system_clock
    from broker.gateway.proxy.ca import load_ring, rotate_ca
    from broker.services.container import build_secret_store

    with reported_errors():
        if prepare_next and promote_next:
            raise click.UsageError("give --prepare-next or --promote-next, not both")
        store = build_secret_store(state.settings())
        if prepare_next or promote_next:
            ring = rotate_ca(store, system_clock, promote=promote_next)
            done = "the next CA now signs" if promote_next else "a next CA is published"
            click.echo(f"capbroker: {done}; the bundle below is what agents trust", err=True)
        else:
            ring = load_ring(store, system_clock)
    click.echo(ring.bundle(system_clock()), nl=False)


@click.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's data in this directory (default: a fresh temporary one).",
)
@click.option(
    "--provider",
    type=click.Choice(["railway", "railway-demo"]),
    default="railway",
    show_default=True,
    help="railway: a replica of Railway's public API (its real schema) behind the shipped "
    "railway map; railway-demo: the small teaching provider of docs/route-maps.md.",
)
@click.option(
    "--proxy",
    is_flag=True,
    help="Also serve the gateway as an HTTPS forward proxy and replay the incident from "
    "curl, which knows only Railway's real host (backboard.railway.com; the replica "
    "answers, nothing leaves the machine).",
)
def demo(keep: Path | None, provider: str, proxy: bool) -> None:
    """Replay the incident: a staging agent's volumeDelete on a volume production shares,
    refused by the gateway; prints the transcript and the audit trail. Exit 0 only if
    every expectation held."""
    from broker.demo.scene import run_demo

    with reported_errors():
        ok = run_demo(click.echo, keep=keep, provider=provider, proxy=proxy)
    sys.exit(0 if ok else 1)
