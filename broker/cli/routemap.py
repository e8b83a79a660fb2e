"""``capbroker routemap check MAP --schema FILE``: a route map against the provider's schema.

MAP is a shipped map's name (``railway-demo``, ``github``) or a map file. FILE is a
GraphQL introspection result or an OpenAPI description (full, or trimmed to its
operations). The check itself is ``broker.routemap.check`` (pure); this reads the files
and prints. Exit 0: no gap and no error; 1: gaps or errors; 2: bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from broker.cli.context import reported_errors
from broker.errors import InvalidRequest
from broker.routemap.checkreport import CheckReport, Finding
from broker.routemap.compile import SHIPPED_MAPS, load_route_map, shipped_map
from broker.routemap.routemap import RouteMap

SHOWN = 50  # findings printed per list; --json has them all


@click.group()
def routemap() -> None:
    """Route maps: check one against its provider's published schema."""


@routemap.command()
@click.argument("map_ref", metavar="MAP")
@click.option(
    "--schema",
    "schema_file",
    required=True,
    type=click.Path(path_type=Path),
    help="GraphQL introspection JSON, or an OpenAPI description (JSON) for REST maps.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def check(map_ref: str, schema_file: Path, as_json: bool) -> None:
    """Hold MAP against the provider's schema: coverage, gaps, errors. Exit 1 on any."""
    from broker.routemap.check import check_route_map

    with reported_errors():
        route_map = _route_map(map_ref)
        report = check_route_map(route_map, _read_json(schema_file))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in report_lines(report, schema_file):
            click.echo(line)
    sys.exit(0 if report.ok else 1)


def _route_map(ref: str) -> RouteMap:
    if ref in SHIPPED_MAPS:
        return shipped_map(ref)
    path = Path(ref)
    if not path.is_file():
        raise InvalidRequest(
            f"{ref}: no such map file, and not a shipped map ({', '.join(SHIPPED_MAPS)})"
        )
    return load_route_map(path)


def _read_json(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{path}: cannot read the schema file ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path}: the schema file is not JSON ({exc})") from None


def report_lines(report: CheckReport, schema_file: Path) -> list[str]:
    what = "root fields" if report.kind == "graphql" else "operations"
    lines = [
        f"route map {report.map_name} against {schema_file} ({report.description or report.kind})",
        f"coverage ({what} named / total): " + ", ".join(str(c) for c in report.coverage),
    ]
    lines += [f"note: {n}" for n in report.notes]
    lines += _section("errors", report.errors)
    groups = dict.fromkeys(f.group for f in report.gaps)
    for group in groups:
        gaps = tuple(f for f in report.gaps if f.group == group)
        lines += _section(f"gaps ({group})", gaps)
    lines.append("ok: every root field or operation named, no error" if report.ok else "not ok")
    return lines


def _section(title: str, findings: tuple[Finding, ...]) -> list[str]:
    if not findings:
        return [f"{title}: none"]
    lines = [f"{title}: {len(findings)}"]
    lines += [f"  {f}" for f in findings[:SHOWN]]
    if len(findings) > SHOWN:
        lines.append(f"  ... and {len(findings) - SHOWN} more (--json lists them all)")
    return lines
