"""``capbroker audit tail|verify|export``: the hash-chained audit log."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

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


@audit.command("export")
@click.option(
    "--since",
    help="Start here when no checkpoint exists yet: an ISO 8601 time with its offset, epoch"
    " seconds, or a time ago (15m, 2h, 7d). Default: the beginning.",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Resume from this file and keep it current (written after each batch).",
)
@click.option("--follow", is_flag=True, help="Keep running and stream new events as they come.")
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="With --follow, seconds between looks for new events.",
)
@click.option("--format", "format_", type=click.Choice(["jsonl"]), default="jsonl")
@pass_state
def audit_export(
    state: CliState,
    since: str | None,
    checkpoint: Path | None,
    follow: bool,
    interval: float,
    format_: str,
) -> None:
    """Stream the audit trail as JSON lines, each event with its chain position (chain,
    seq, prev_hash, hash); SIGINT or SIGTERM stops it cleanly after the current batch."""
    from broker.audit.export import Checkpoint, export, jsonl, parse_since, read_batch

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    out = click.get_text_stream("stdout")

    def write(events: list[dict[str, Any]]) -> None:
        out.writelines(jsonl(events))
        out.flush()

    with reported_errors():
        services = state.reader()
        start = parse_since(since, now=services.clock()) if since else 0.0
        position = Checkpoint.load(checkpoint, since=start)

        def save(at: Checkpoint) -> None:
            if checkpoint is not None:
                at.save(checkpoint)

        def read(at: Checkpoint) -> list[dict[str, Any]]:
            with services.db.read() as conn:
                return read_batch(conn, at)

        try:
            export(
                read,
                position,
                write,
                save=save,
                follow=follow,
                wait=lambda: not stop.wait(interval),
                stopped=stop.is_set,
            )
        except BrokenPipeError:  # the reader went away; what it missed is not checkpointed
            sys.stderr.close()
            sys.exit(1)
