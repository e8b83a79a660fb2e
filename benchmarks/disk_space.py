"""Bytes a SQLite data directory grows by per issued token and per gateway decision.

    PYTHONPATH=$PWD python benchmarks/disk_space.py [TOKENS] [CALLS]

Issues TOKENS tokens through the broker's services, then makes CALLS allowed gateway
calls over a socket (each is a ``gateway.decision`` event plus its share of a
``gateway.completed`` event and a budget count); after each phase the WAL is
checkpointed into the file (TRUNCATE) and the database file's growth is reported.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.stack import PROVIDER, build_stack


def db_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def main(tokens: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "capbroker.db"
        gen = build_stack(Path(tmp), f"sqlite:///{db}")
        stack = next(gen)
        try:
            start = db_bytes(db)
            issued = [stack.token() for _ in range(tokens)]
            after_tokens = db_bytes(db)
            with httpx.Client(timeout=10) as http:
                for i in range(calls):
                    answer = http.post(
                        f"{stack.url}/{PROVIDER}/graphql",
                        json={"query": "{ projects { id } }"},
                        headers={"Authorization": f"Bearer {issued[i % len(issued)]}"},
                    )
                    assert answer.status_code == 200, answer.text
            time.sleep(0.5)  # the last completion events are deferred
            after_calls = db_bytes(db)
        finally:
            for _ in gen:
                pass
    per_token = (after_tokens - start) / tokens
    per_call = (after_calls - after_tokens) / calls
    print(f"{tokens} tokens: {per_token:.0f} bytes each")
    print(f"{calls} decisions: {per_call:.0f} bytes each")
    print(f"per million: tokens {per_token / 1e3:.2f} GB, decisions {per_call / 1e3:.2f} GB")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 3000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
    )
