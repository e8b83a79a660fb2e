"""``capbroker audit tail|verify``: the hash-chained audit log."""

from __future__ import annotations

import sys

import click

from broker.cli import render
from broker.cli.context import CliState, pass_state, reported_errors


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("tail")
@click.option("-n", "--lines", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--type", "type_", help="Only events of this type, e.g. token.issued.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def audit_tail(state: CliState, lines: int, type_: str | None, as_json: bool) -> None:
    """The most recent events, oldest first."""
    from broker.audit.reader import AuditQuery, query_events

    with reported_errors():
        services = state.reader()
        with services.db.read() as conn:
            events = list(reversed(query_events(conn, AuditQuery(type=type_, limit=lines))))
    if as_json:
        click.echo(render.as_json(events))
        return
    for line in render.audit_events(events):
        click.echo(line)


@audit.command("verify")
@pass_state
def audit_verify(state: CliState) -> None:
    """Prove every chain intact; name the first altered, missing or extra event. Exit 1 if not."""
    from broker.audit.reader import verify_all

    with reported_errors():
        services = state.reader()
        with services.db.read() as conn:
            reports = verify_all(conn)
    lines, intact = render.audit_verification(reports)
    for line in lines:
        click.echo(line)
    sys.exit(0 if intact else 1)
