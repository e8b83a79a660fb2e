"""``capbroker approvals ...``: held calls waiting for a human."""

from __future__ import annotations

import json
from typing import Literal

import click

from broker.cli import render
from broker.cli.context import CliState, pass_state, reported_errors


@click.group()
def approvals() -> None:
    """Held calls waiting for a human: list, show, approve, deny."""


@approvals.command("list")
@click.option("--status", type=click.Choice(["pending", "granted", "denied", "used"]))
@pass_state
def approvals_list(state: CliState, status: str | None) -> None:
    with reported_errors():
        views = state.reader().approvals.list(status=status)
    for line in render.approvals(views):
        click.echo(line)


@approvals.command("show")
@click.argument("approval_id")
@pass_state
def approvals_show(state: CliState, approval_id: str) -> None:
    """The blast radius of a held call: what it does, where, on what, who asked."""
    with reported_errors():
        view = state.reader().approvals.get(approval_id)
    click.echo(json.dumps(view.as_dict(), indent=2, default=str))


@approvals.command("approve")
@click.argument("approval_id")
@pass_state
def approvals_approve(state: CliState, approval_id: str) -> None:
    """Approve exactly that call, once (the agent retries it unchanged)."""
    _vote(state, approval_id, "approve")


@approvals.command("deny")
@click.argument("approval_id")
@pass_state
def approvals_deny(state: CliState, approval_id: str) -> None:
    _vote(state, approval_id, "deny")


def _vote(state: CliState, approval_id: str, decision: Literal["approve", "deny"]) -> None:
    with reported_errors():
        view = state.writer().approvals.vote(
            approval_id, approver=_approver(), approver_id=None, decision=decision
        )
    click.echo(
        f"{approval_id}: {view.status} ({len(view.votes)} of {view.approvers_required} approvers)"
    )


def _approver() -> str:
    import getpass
    import socket

    return f"cli:{getpass.getuser()}@{socket.gethostname()}"
