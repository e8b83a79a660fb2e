"""``capbroker kill ...``: the kill switch."""

from __future__ import annotations

import click

from broker.cli import render
from broker.cli.context import CLI_ACTOR, CliState, pass_state, reported_errors


@click.group()
def kill() -> None:
    """The kill switch: stop an agent, a template, a provider or everything at once."""


@kill.command("engage")
@click.option("--agent", help="Every token of this agent.")
@click.option("--template", help="Every token issued from this template.")
@click.option("--provider", help="Every token for this provider.")
@click.option("--all", "everything", is_flag=True, help="Every token there is.")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@pass_state
def kill_engage(
    state: CliState,
    agent: str | None,
    template: str | None,
    provider: str | None,
    everything: bool,
    reason: str,
) -> None:
    """Revoke the scope's tokens now and block its issuance until lifted."""
    chosen = [
        (s, v) for s, v in (("agent", agent), ("template", template), ("provider", provider)) if v
    ]
    if everything:
        chosen.append(("all", ""))
    if len(chosen) != 1:
        raise click.UsageError("name exactly one of --agent, --template, --provider, --all")
    scope, name = chosen[0]
    with reported_errors():
        record, revoked = state.writer().kills.engage(scope, name, actor=CLI_ACTOR, reason=reason)
    click.echo(
        f"kill switch {record.switch.id} engaged on {scope} {record.switch.label}: "
        f"{revoked} tokens revoked; gateways refuse them within about a second"
    )


@kill.command("list")
@click.option("--all", "include_lifted", is_flag=True, help="Include lifted switches.")
@pass_state
def kill_list(state: CliState, include_lifted: bool) -> None:
    with reported_errors():
        records = state.reader().kills.list(include_lifted=include_lifted)
    for line in render.kills(records):
        click.echo(line)


@kill.command("lift")
@click.argument("kill_id")
@pass_state
def kill_lift(state: CliState, kill_id: str) -> None:
    """Lift a kill switch: issuance for its scope resumes (revoked tokens stay revoked)."""
    with reported_errors():
        state.writer().kills.lift(kill_id, actor=CLI_ACTOR)
    click.echo(f"kill switch {kill_id} lifted")
