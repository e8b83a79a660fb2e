"""``capbroker explain``: would this template or token allow an action, and why not?

It prints the answer ``POST /v1/admin/explain`` gives (``broker.api.answers``): the JSON
as is, or rendered as text.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, cast

import click

from broker.cli import render
from broker.cli.context import CliState, pass_state, reported_errors

if TYPE_CHECKING:
    from broker.domain.explain import Effect


@click.command()
@click.option("--template", help="Explain for a template (newest version unless --version).")
@click.option("--version", "template_version", type=int)
@click.option(
    "--token-file",
    type=click.File("r"),
    help="Explain for a token read from this file ('-' stdin).",
)
@click.option("--action", required=True)
@click.option("--env", "environment", required=True)
@click.option("--agent")
@click.option("--resource")
@click.option("--effect", type=click.Choice(["read", "write", "destructive"]))
@click.option("--json", "as_json", is_flag=True)
@pass_state
def explain(
    state: CliState,
    template: str | None,
    template_version: int | None,
    token_file: IO[str] | None,
    action: str,
    environment: str,
    agent: str | None,
    resource: str | None,
    effect: str | None,
    as_json: bool,
) -> None:
    """Would this template or token allow ACTION in ENV, and why not? Exit 1 unless allowed."""
    from broker.api.answers import explain as answer_to
    from broker.services.explain import ExplainQuery

    with reported_errors():
        services = state.reader()
        query = ExplainQuery(
            action,
            environment,
            template,
            template_version,
            token_file.read().strip() if token_file else None,
            agent,
            resource,
            cast("Effect | None", effect),
        )
        answer = answer_to(services, query)
    if as_json:
        click.echo(render.as_json(answer))
    else:
        for line in render.explanation(answer):
            click.echo(line)
    sys.exit(0 if answer["decision"] == "allow" else 1)
