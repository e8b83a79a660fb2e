"""``capbroker keys ...``: token-signing keys."""

from __future__ import annotations

import click

from broker.cli import render
from broker.cli.context import BOOTSTRAP_ACTOR, CLI_ACTOR, CliState, pass_state, reported_errors


@click.group()
def keys() -> None:
    """Token-signing keys."""


@keys.command("rotate")
@pass_state
def keys_rotate(state: CliState) -> None:
    """Add a new key: published now, signing after the propagation delay."""
    with reported_errors():
        services = state.writer()
        # A rotation keeps a key signing while the new one propagates, so a store that has
        # none yet first gets the key serve would have made.
        services.keys.ensure_key(actor=BOOTSTRAP_ACTOR)
        key = services.keys.rotate(actor=CLI_ACTOR)
        wait = key.activates_at - services.clock()
    click.echo(f"new key {key.kid} is published now and signs in {wait:.0f}s")


@keys.command("list")
@pass_state
def keys_list(state: CliState) -> None:
    from broker.api.answers import key_listing

    with reported_errors():
        services = state.reader()
        if not services.keys.public_keys():
            click.echo("no signing keys yet: `capbroker migrate` or `capbroker serve` makes one")
            return
        for line in render.keys(key_listing(services.keys, services.clock())):
            click.echo(line)
