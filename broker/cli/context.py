"""Shared CLI plumbing: settings from global options, services on demand, errors as messages."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from broker.errors import BrokerError, Unavailable
from broker.settings import Settings, load_settings

if TYPE_CHECKING:
    from broker.services.container import Schema, Services

F = TypeVar("F", bound=Callable[..., Any])
CLI_ACTOR = "cli:local-operator"
# Who makes the first signing key: `serve` and `migrate` (nothing can have cached a JWKS
# for a new store yet, so it signs at once).
BOOTSTRAP_ACTOR = "system:bootstrap"


def workers_option(what: str) -> Callable[[F], F]:
    """``--workers N``: N uvicorn worker processes on one port (broker/workers.py)."""
    return click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=1,
        show_default=True,
        help=f"Worker processes on the one port (each with its own {what}).",
    )


@dataclass
class CliState:
    config: Path | None
    overrides: dict[str, object]

    def settings(self, **more: object) -> Settings:
        return load_settings(config_file=self.config, overrides={**self.overrides, **more})

    def reader(self) -> Services:
        """Services for a command that only reads: nothing is migrated, created or written.
        A database that does not exist yet, or whose schema is not current, is refused
        (exit 3) with the command to run, ``capbroker migrate``."""
        return self._build(self.settings(), "current")

    def writer(self, **more: object) -> Services:
        """Services for a command that writes: the schema is brought up to date first. No
        signing key is made here; the commands that need one say so (serve, migrate,
        keys rotate)."""
        return self._build(self.settings(**more), "upgrade")

    def _build(self, settings: Settings, schema: Schema) -> Services:
        from broker.services.container import build_services

        return build_services(settings, writer=f"cli@{_host()}", schema=schema)


def _host() -> str:
    import socket

    return socket.gethostname()


pass_state = click.make_pass_decorator(CliState)


@contextmanager
def reported_errors() -> Iterator[None]:
    """A refusal becomes one line naming the problem and its code; exit 2 (3: unavailable)."""
    try:
        yield
    except BrokerError as exc:
        click.echo(f"capbroker: error: {exc.detail} [{exc.reason.value}]", err=True)
        sys.exit(3 if isinstance(exc, Unavailable) else 2)


def emit(value: Any, *, as_json: bool, human: Callable[[Any], str]) -> None:
    click.echo(
        json.dumps(value, indent=2, sort_keys=True, default=str) if as_json else human(value)
    )
