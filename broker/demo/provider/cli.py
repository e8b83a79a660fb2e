"""``python -m broker.demo.provider``: serve the demo provider on a loopback port.

Secrets come from an environment variable or a file, never from the command line (argv is
visible to every user of the machine). Without an admin token option a random one is made
and never shown, which leaves the ``/_demo`` endpoints unreachable.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

from broker.demo.provider.app import create_provider_app
from broker.demo.provider.server import ServerThread


class ConfigError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m broker.demo.provider",
        description="A Railway-style GraphQL API for the capbroker demo (binds 127.0.0.1).",
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-env", metavar="NAME", help="environment variable with the master key")
    key.add_argument("--key-file", metavar="PATH", type=Path, help="file with the master key")
    admin = p.add_mutually_exclusive_group()
    admin.add_argument("--admin-token-env", metavar="NAME", help="variable with the admin token")
    admin.add_argument("--admin-token-file", metavar="PATH", type=Path, help="admin token file")
    p.add_argument(
        "--echo-auth-header-in-errors",
        action="store_true",
        help="TEST ONLY: repeat the received Authorization header in 401 bodies",
    )
    return p


def read_secret(what: str, env: str | None, path: Path | None) -> str | None:
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"environment variable {env} ({what}) is not set")
    elif path is not None:
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    else:
        return None
    value = value.strip()
    if not value:
        raise ConfigError(f"the {what} is empty")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        master_key = read_secret("master key", args.key_env, args.key_file)
        admin = read_secret("admin token", args.admin_token_env, args.admin_token_file)
        assert master_key is not None  # the argument group is required
        app = create_provider_app(
            master_key,
            admin or secrets.token_urlsafe(32),
            echo_auth_header_in_errors=args.echo_auth_header_in_errors,
        )
        server = ServerThread(app, port=args.port).start()
    except (ConfigError, ValueError, OSError, RuntimeError) as exc:
        print(f"demo provider: {exc}", file=sys.stderr)
        return 2
    return serve_until_signalled(server, f"demo provider listening on {server.url}")


class Stoppable(Protocol):
    def stop(self) -> object: ...


def serve_until_signalled(server: Stoppable, banner: str) -> int:
    """Print ``banner`` once serving, then wait for SIGTERM or SIGINT and stop the server."""
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(banner, flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0
