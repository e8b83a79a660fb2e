"""Shared CLI plumbing: settings from global options, services on demand, errors as messages."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from broker.errors import BrokerError, Unavailable
from broker.settings import Settings, load_settings

if TYPE_CHECKING:
    from broker.services.container import Services

F = TypeVar("F", bound=Callable[..., Any])
CLI_ACTOR = "cli:local-operator"


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
    _services: Services | None = field(default=None, repr=False)

    def settings(self, **more: object) -> Settings:
        return load_settings(config_file=self.config, overrides={**self.overrides, **more})

    def services(self, **more: object) -> Services:
        from broker.services.container import build_services

        if self._services is None:
            self._services = build_services(self.settings(**more), writer=f"cli@{_host()}")
            # The first use of a data directory gets a key that signs at once: nothing can
            # have cached a JWKS for it yet.
            self._services.keys.ensure_key(actor="system:bootstrap")
        return self._services


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
