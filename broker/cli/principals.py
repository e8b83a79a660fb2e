"""``capbroker agents ...`` and ``capbroker admins ...``: create, list, disable, enable.

The two groups are spelled out command by command (so each is found by its name); what
they share is in the helpers at the bottom.
"""

from __future__ import annotations

import click

from broker.auth.credentials import Kind
from broker.cli import render
from broker.cli.context import CLI_ACTOR, CliState, emit, pass_state, reported_errors

_CREATE_HELP = "Create one; its credential is printed once and stored only as a slow hash."
_name = click.argument("name")
_description = click.option("--description", default="")
_json = click.option("--json", "as_json", is_flag=True)


@click.group(help="Create, list, disable and enable agents.")
def agents() -> None:
    pass


@agents.command("create", help=_CREATE_HELP)
@_name
@_description
@pass_state
def agents_create(state: CliState, name: str, description: str) -> None:
    _create(state, "agent", name, description)


@agents.command("list")
@_json
@pass_state
def agents_list(state: CliState, as_json: bool) -> None:
    _list(state, "agent", as_json)


@agents.command("disable", help="Disable an agent.")
@_name
@pass_state
def agents_disable(state: CliState, name: str) -> None:
    _set_disabled(state, "agent", name, disabled=True)


@agents.command("enable", help="Enable an agent.")
@_name
@pass_state
def agents_enable(state: CliState, name: str) -> None:
    _set_disabled(state, "agent", name, disabled=False)


@click.group(help="Create, list, disable and enable admins.")
def admins() -> None:
    pass


@admins.command("create", help=_CREATE_HELP)
@_name
@_description
@pass_state
def admins_create(state: CliState, name: str, description: str) -> None:
    _create(state, "admin", name, description)


@admins.command("list")
@_json
@pass_state
def admins_list(state: CliState, as_json: bool) -> None:
    _list(state, "admin", as_json)


@admins.command("disable", help="Disable an admin.")
@_name
@pass_state
def admins_disable(state: CliState, name: str) -> None:
    _set_disabled(state, "admin", name, disabled=True)


@admins.command("enable", help="Enable an admin.")
@_name
@pass_state
def admins_enable(state: CliState, name: str) -> None:
    _set_disabled(state, "admin", name, disabled=False)


# --- shared by both groups ----------------------------------------------------------------------


def _create(state: CliState, kind: Kind, name: str, description: str) -> None:
    with reported_errors():
        created = state.writer().principals.create(
            kind, name, actor=CLI_ACTOR, description=description
        )
    click.echo(f"created {kind} {name!r}. Credential (shown once):", err=True)
    click.echo(created.credential)


def _list(state: CliState, kind: Kind, as_json: bool) -> None:
    with reported_errors():
        rows = [p.__dict__ for p in state.reader().principals.list(kind)]
    emit(rows, as_json=as_json, human=lambda rs: render.principals(rs, kind=kind))


def _set_disabled(state: CliState, kind: Kind, name: str, *, disabled: bool) -> None:
    with reported_errors():
        state.writer().principals.set_disabled(kind, name, disabled=disabled, actor=CLI_ACTOR)
    click.echo(f"{kind} {name!r} {'disabled' if disabled else 'enabled'}")
