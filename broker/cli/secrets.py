"""``capbroker secrets put|check|policy``: provider master keys in the secret backend.

With ``--providers FILE`` each provider's key is where its entry says (``master_key``
or ``master_key_secret``); without it, at the default name ``providers/NAME/master-key``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

import click

from broker.cli.context import CLI_ACTOR, CliState, pass_state, reported_errors
from broker.secrets.location import KeyLocation

providers_option = click.option(
    "--providers",
    "providers_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The gateway's providers file: use each provider's master_key location from it.",
)


def _locations(providers_file: Path | None, names: tuple[str, ...]) -> dict[str, KeyLocation]:
    if providers_file is None:
        return {name: KeyLocation.default(name) for name in names}
    from broker.errors import InvalidRequest
    from broker.gateway.factory import load_providers

    routes = load_providers(providers_file)
    unknown = [name for name in names if name not in routes]
    if unknown:
        raise InvalidRequest(f"{providers_file}: no provider named {', '.join(unknown)}")
    return {name: routes[name].master_key for name in names or tuple(routes)}


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
    "--secret-name", help="Store it under this name (default providers/PROVIDER/master-key)."
)
@providers_option
@pass_state
def secrets_put(
    state: CliState,
    provider: str,
    from_file: IO[bytes],
    secret_name: str | None,
    providers_file: Path | None,
) -> None:
    """Store PROVIDER's master key (read from stdin or a file), as a new version; at an
    operator-chosen Vault location it is written as plain text, as `vault kv put` would."""
    from broker.secrets.location import write_key

    value = from_file.read().strip()
    if not value:
        raise click.UsageError("no key was given on standard input or in the file")
    if secret_name and providers_file:
        raise click.UsageError("use --secret-name or --providers, not both")
    with reported_errors():
        location = (
            KeyLocation(name=secret_name)
            if secret_name
            else _locations(providers_file, (provider,))[provider]
        )
        services = state.writer()
        version = write_key(services.secrets, location, value)
        with services.db.transaction() as tx:
            services.audit.append(
                tx,
                type="secret.written",
                actor=CLI_ACTOR,
                subject=f"provider:{provider}",
                data={"version": version, "location": location.describe(services.secrets)},
            )
        where = location.describe(services.secrets)
    click.echo(f"stored the master key of {provider} at {where} (version {version})")


@secrets.command("check")
@click.argument("providers", nargs=-1)
@providers_option
@pass_state
def secrets_check(state: CliState, providers: tuple[str, ...], providers_file: Path | None) -> None:
    """Can each PROVIDER's master key be read (every provider of --providers if none is
    named)? Names the location read; prints no value; exit 1 if any cannot be read."""
    from broker.errors import BrokerError
    from broker.secrets.location import key_version, read_key

    if not providers and providers_file is None:
        raise click.UsageError("name a provider, or give --providers")
    failed = False
    with reported_errors():
        locations = _locations(providers_file, providers)
        store = state.reader().secrets
    for provider, location in locations.items():
        where = location.describe(store)
        try:
            length = len(read_key(store, location))
            number = key_version(store, location)
            version = f", version {number}" if number is not None else ""
            click.echo(f"{provider}: readable ({length} bytes{version}) from {where}")
        except BrokerError as exc:
            failed = True
            click.echo(f"{provider}: NOT readable from {where}: {exc.detail} [{exc.reason.value}]")
    sys.exit(1 if failed else 0)


@secrets.command("policy")
@providers_option
@click.option("--read-only", is_flag=True, help="The gateway's policy: it only reads keys.")
@pass_state
def secrets_policy(state: CliState, providers_file: Path | None, read_only: bool) -> None:
    """Print the minimal Vault policy (HCL): the store's mount and prefix, plus each
    master_key location the providers file names."""
    from broker.secrets.vault.config import vault_config_from_env
    from broker.secrets.vault.policy import vault_policy

    with reported_errors():
        config = vault_config_from_env(os.environ)
        chosen = (
            [
                location.vault
                for location in _locations(providers_file, ()).values()
                if location.vault is not None
            ]
            if providers_file
            else []
        )
    click.echo(
        vault_policy(config.mount, config.prefix, read_only=read_only, master_keys=chosen),
        nl=False,
    )
