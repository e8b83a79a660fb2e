"""``capbroker gateway`` and ``capbroker secrets``: the verifying gateway and master keys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from broker.cli.context import CliState, pass_state, reported_errors, workers_option


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
@workers_option("audit chain, caches and revocation set")
@pass_state
def gateway_serve(
    state: CliState, providers_file: Path, host: str, port: int, workers: int
) -> None:
    """Serve /{provider}/{path}: verify, classify, decide, audit, inject the key, forward."""
    import os

    import uvicorn

    from broker.gateway.factory import build_gateway, load_providers
    from broker.gateway.server import PROVIDERS_ENV, SERVER_OPTIONS
    from broker.workers import hand_on_settings, tune_gc

    with reported_errors():
        settings = state.settings()
        providers = load_providers(providers_file)
        # Built in the parent even for workers: a bad setting or map fails here, once.
        app = build_gateway(settings, providers)
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
        )
        return
    tune_gc()
    uvicorn.run(app, host=host, port=port, **SERVER_OPTIONS)


@click.group()
def secrets() -> None:
    """Provider master keys in the secret backend."""


@secrets.command("put")
@click.argument("provider")
@click.option(
    "--from-file",
    type=click.File("rb"),
    default="-",
    show_default=True,
    help="Read the key from this file ('-': standard input). Never from an argument.",
)
@click.option(
    "--secret-name",
    help="Where to store it, if the providers file sets master_key_secret"
    " (default providers/PROVIDER/master-key).",
)
@pass_state
def secrets_put(
    state: CliState, provider: str, from_file: IO[bytes], secret_name: str | None
) -> None:
    """Store PROVIDER's master key (read from stdin or a file), as a new version."""
    from broker.gateway.factory import master_key_secret_for

    value = from_file.read().strip()
    if not value:
        raise click.UsageError("no key was given on standard input or in the file")
    with reported_errors():
        services = state.services()
        version = services.secrets.put(secret_name or master_key_secret_for(provider), value)
        with services.db.transaction() as tx:
            services.audit.append(
                tx,
                type="secret.written",
                actor="cli:local-operator",
                subject=f"provider:{provider}",
                data={"version": version},
            )
    click.echo(f"stored the master key of {provider} (version {version})")


@secrets.command("check")
@click.argument("providers", nargs=-1, required=True)
@pass_state
def secrets_check(state: CliState, providers: tuple[str, ...]) -> None:
    """Can the broker read each PROVIDER's master key? Prints no value; exit 1 if not."""
    from broker.errors import BrokerError
    from broker.gateway.factory import master_key_secret_for

    failed = False
    with reported_errors():
        store = state.services().secrets
    # The vault backend also says which KV version it read (the value itself never shows).
    version_of = getattr(store, "version", None)
    for provider in providers:
        try:
            name = master_key_secret_for(provider)
            length = len(store.get(name))
            version = f", version {version_of(name)}" if callable(version_of) else ""
            click.echo(f"{provider}: readable ({length} bytes{version})")
        except BrokerError as exc:
            failed = True
            click.echo(f"{provider}: NOT readable: {exc.detail} [{exc.reason.value}]")
    sys.exit(1 if failed else 0)
