"""``capbroker secrets put|check``: provider master keys in the secret backend."""

from __future__ import annotations

import sys
from typing import IO

import click

from broker.cli.context import CLI_ACTOR, CliState, pass_state, reported_errors


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
        services = state.writer()
        version = services.secrets.put(secret_name or master_key_secret_for(provider), value)
        with services.db.transaction() as tx:
            services.audit.append(
                tx,
                type="secret.written",
                actor=CLI_ACTOR,
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
        store = state.reader().secrets
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
