"""``capbroker routemap check MAP --schema FILE...``: a route map against the provider's schema.

MAP is a shipped map's name (``railway-demo``, ``github``) or a map file. Each FILE is a
GraphQL introspection result or an OpenAPI description (full, or trimmed to its
operations); ``--schema`` may be given once per kind (a map with REST rules and a GraphQL
part, like ``github``, is checked against one of each), and every file is checked
against its part of the map. The check itself is ``broker.routemap.check`` (pure); this
reads the files and prints. Exit 0: no gap and no error in any report; 1: gaps or errors;
2: bad input.
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
    "schema_files",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="GraphQL introspection JSON, or an OpenAPI description (JSON) for REST rules; "
    "once per kind.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def check(map_ref: str, schema_files: tuple[Path, ...], as_json: bool) -> None:
    """Hold MAP against the provider's schemas: coverage, gaps, errors. Exit 1 on any."""
    with reported_errors():
        route_map = _route_map(map_ref)
        reports = check_all(route_map, [(f, _read_json(f)) for f in schema_files])
    if as_json:
        found = [r.to_json() for r in reports]
        click.echo(json.dumps(found[0] if len(found) == 1 else found, indent=2))
    else:
        for i, (report, schema_file) in enumerate(zip(reports, schema_files, strict=True)):
            if i:
                click.echo("")
            for line in report_lines(report, schema_file):
                click.echo(line)
    sys.exit(0 if all(r.ok for r in reports) else 1)


def check_all(route_map: RouteMap, documents: list[tuple[Path, object]]) -> list[CheckReport]:
    """One report per description; two descriptions of one kind are refused (which part
    of the map would the second be for?)."""
    from broker.routemap.check import check_route_map, description_kind

    seen: dict[str, Path] = {}
    for path, document in documents:
        kind = description_kind(document)
        if kind in seen:
            raise InvalidRequest(
                f"{path} and {seen[kind]} are both {kind} descriptions; give one of each kind"
            )
        seen[kind] = path
    return [check_route_map(route_map, document) for _, document in documents]


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
