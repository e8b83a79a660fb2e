"""``python -m broker.demo.railway``: serve the Railway replica on a loopback port.

Secrets come from an environment variable or a file, never from the command line (argv is
visible to every user of the machine), as for ``python -m broker.demo.provider``. Without
an admin token option a random one is made and never shown, which leaves the ``/_demo``
endpoints unreachable. ``--print-ids`` prints the seeded ids as JSON and exits.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from broker.demo.provider.cli import ConfigError, read_secret, serve_until_signalled
from broker.demo.railway.replica import serve_replica
from broker.demo.railway.seed import IDS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m broker.demo.railway",
        description="A replica of Railway's public GraphQL API (binds 127.0.0.1).",
    )
    p.add_argument("--print-ids", action="store_true", help="print the seeded ids as JSON")
    p.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    p.add_argument("--delay-ms", type=float, default=0.0, help="hold every answer back (ms)")
    key = p.add_mutually_exclusive_group()
    key.add_argument("--key-env", metavar="NAME", help="environment variable with the master key")
    key.add_argument("--key-file", metavar="PATH", type=Path, help="file with the master key")
    admin = p.add_mutually_exclusive_group()
    admin.add_argument("--admin-token-env", metavar="NAME", help="variable with the admin token")
    admin.add_argument("--admin-token-file", metavar="PATH", type=Path, help="admin token file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.print_ids:
        print(json.dumps(IDS.to_json(), indent=2))
        return 0
    if args.key_env is None and args.key_file is None:
        parser.error("one of --key-env or --key-file is required")
    try:
        master_key = read_secret("master key", args.key_env, args.key_file)
        admin = read_secret("admin token", args.admin_token_env, args.admin_token_file)
        assert master_key is not None  # checked above
        replica = serve_replica(
            master_key,
            admin or secrets.token_urlsafe(32),
            port=args.port,
            delay_s=args.delay_ms / 1000,
        )
    except (ConfigError, ValueError, OSError, RuntimeError) as exc:
        print(f"railway replica: {exc}", file=sys.stderr)
        return 2
    return serve_until_signalled(replica, f"railway replica listening on {replica.url}")
