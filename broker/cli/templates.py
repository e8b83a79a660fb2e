"""``capbroker apply``, ``templates list|show`` and ``policy show``: what agents may be granted."""

from __future__ import annotations

import json
from pathlib import Path

import click

from broker.cli import render
from broker.cli.context import CLI_ACTOR, CliState, emit, pass_state, reported_errors


@click.command()
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A manifest file, or a directory of them (walked recursively).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")
@pass_state
def apply(state: CliState, path: Path, dry_run: bool) -> None:
    """Apply CapabilityTemplate, PolicyFloor and ResourceServer manifests (idempotent)."""
    from broker.manifests import load_manifests

    with reported_errors():
        manifests = load_manifests(path)
        # A dry run too brings the schema up: it compares against the store it would change.
        changes = state.writer().apply_manifests(manifests, actor=CLI_ACTOR, dry_run=dry_run)
        for line in render.changes(changes, dry_run=dry_run):
            click.echo(line)


@click.group()
def templates() -> None:
    """Read capability templates."""


@templates.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def templates_list(state: CliState, as_json: bool) -> None:
    """The newest version of every template."""
    with reported_errors():
        services = state.reader()
        with services.db.read() as conn:
            rows = [
                {
                    "name": r.template.name,
                    "version": r.version,
                    "provider": r.template.provider,
                    "environments": list(r.template.environments),
                }
                for r in services.templates.list_latest(conn)
            ]
        emit(rows, as_json=as_json, human=render.templates)


@templates.command("show")
@click.argument("name")
@click.option("--version", "version", type=int, help="A specific version (default newest).")
@pass_state
def templates_show(state: CliState, name: str, version: int | None) -> None:
    """A template's spec as stored (canonical form)."""
    with reported_errors():
        services = state.reader()
        with services.db.read() as conn:
            record = (
                services.templates.version(conn, name, version)
                if version
                else services.templates.latest(conn, name)
            )
        click.echo(
            json.dumps(
                {"name": name, "version": record.version, "spec": record.spec},
                indent=2,
                sort_keys=True,
            )
        )


@click.group()
def policy() -> None:
    """The global policy floor."""


@policy.command("show")
@pass_state
def policy_show(state: CliState) -> None:
    from broker.domain.policy import floor_to_spec

    with reported_errors():
        services = state.reader()
        with services.db.read() as conn:
            floor, version = services.templates.floor(conn)
        click.echo(json.dumps({"version": version, "spec": floor_to_spec(floor)}, indent=2))
